package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"

	"github.com/seedbed/seedbed/targets"
)

// Each stage gets one NetworkPolicy, STAGE-isolation, selecting the pods of
// every function of the stage (by the owner labels). It allows:
//
//   - in: from the pods of Seedbed's gateway (Config.GatewayNamespace and
//     GatewayLabels) to the runner's port, and from the stage's own pods;
//   - out: to the stage's own pods; to Seedbed's pods (where the runner
//     fetches its artifact); to the cluster's DNS (pods k8s-app=kube-dns
//     in kube-system, port 53); and to every address outside the private,
//     shared, loopback and link-local ranges (10/8, 172.16/12,
//     192.168/16, 100.64/10, 127/8, 169.254/16 — the cloud metadata
//     address 169.254.169.254 among them — and fc00::/7, fe80::/10).
//
// So a function reaches the internet but not the pods of another app or
// stage, nor the cluster's other namespaces, nodes or metadata service,
// as far as those live in private ranges; and nothing but the gateway
// reaches it. The cluster's network plugin enforces it (Calico, Cilium,
// …); without one that implements NetworkPolicy the object is inert.

// DefaultGatewayNamespace is where Seedbed's gateway runs when
// Config.GatewayNamespace is empty and Seedbed does not run in a pod
// (deploy/kubernetes puts it there).
const DefaultGatewayNamespace = "seedbed"

// DefaultGatewayLabels select Seedbed's gateway pods (seedbed serve) in
// deploy/kubernetes.
func DefaultGatewayLabels() map[string]string {
	return map[string]string{"app.kubernetes.io/name": "seedbed", "app.kubernetes.io/component": "serve"}
}

// privateV4 and privateV6 are the ranges a function may not reach.
var (
	privateV4 = []string{"10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16"}
	privateV6 = []string{"fc00::/7", "fe80::/10"}
)

// serviceAccountNamespace is where a pod's namespace is mounted.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// gatewayNamespace is the namespace Seedbed runs in: the configured one,
// else the pod's own, else DefaultGatewayNamespace.
func gatewayNamespace(configured string) string {
	if configured != "" {
		return configured
	}
	if b, err := os.ReadFile(serviceAccountNamespace); err == nil && strings.TrimSpace(string(b)) != "" {
		return strings.TrimSpace(string(b))
	}
	return DefaultGatewayNamespace
}

// policyName is the NetworkPolicy of stage ref.
func policyName(ref targets.StageRef) string {
	return dnsName(ref.App+"-"+ref.Stage, 40) + "-" + shortHash(ref.String(), 6) + "-isolation"
}

// networkPolicy is stage ref's NetworkPolicy as Seedbed applies it.
func (t *Target) networkPolicy(ref targets.StageRef) *networkingv1ac.NetworkPolicyApplyConfiguration {
	stagePods := func() *metav1ac.LabelSelectorApplyConfiguration {
		return metav1ac.LabelSelector().WithMatchLabels(ownerLabels(ref))
	}
	gateway := func() *networkingv1ac.NetworkPolicyPeerApplyConfiguration {
		return networkingv1ac.NetworkPolicyPeer().
			WithNamespaceSelector(metav1ac.LabelSelector().WithMatchLabels(map[string]string{corev1.LabelMetadataName: t.gatewayNS})).
			WithPodSelector(metav1ac.LabelSelector().WithMatchLabels(t.cfg.GatewayLabels))
	}
	port := func(proto corev1.Protocol, n int) *networkingv1ac.NetworkPolicyPortApplyConfiguration {
		return networkingv1ac.NetworkPolicyPort().WithProtocol(proto).WithPort(intstr.FromInt(n))
	}
	return networkingv1ac.NetworkPolicy(policyName(ref), t.cfg.Namespace).
		WithLabels(ownerLabels(ref)).
		WithSpec(networkingv1ac.NetworkPolicySpec().
			WithPodSelector(stagePods()).
			WithPolicyTypes(networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress).
			WithIngress(
				networkingv1ac.NetworkPolicyIngressRule().WithFrom(gateway()).WithPorts(port(corev1.ProtocolTCP, RunnerPort)),
				networkingv1ac.NetworkPolicyIngressRule().WithFrom(networkingv1ac.NetworkPolicyPeer().WithPodSelector(stagePods())),
			).
			WithEgress(
				networkingv1ac.NetworkPolicyEgressRule().WithTo(networkingv1ac.NetworkPolicyPeer().WithPodSelector(stagePods())),
				networkingv1ac.NetworkPolicyEgressRule().WithTo(gateway()),
				networkingv1ac.NetworkPolicyEgressRule().
					WithTo(networkingv1ac.NetworkPolicyPeer().
						WithNamespaceSelector(metav1ac.LabelSelector().WithMatchLabels(map[string]string{corev1.LabelMetadataName: "kube-system"})).
						WithPodSelector(metav1ac.LabelSelector().WithMatchLabels(map[string]string{"k8s-app": "kube-dns"}))).
					WithPorts(port(corev1.ProtocolUDP, 53), port(corev1.ProtocolTCP, 53)),
				networkingv1ac.NetworkPolicyEgressRule().WithTo(
					networkingv1ac.NetworkPolicyPeer().WithIPBlock(networkingv1ac.IPBlock().WithCIDR("0.0.0.0/0").WithExcept(privateV4...)),
					networkingv1ac.NetworkPolicyPeer().WithIPBlock(networkingv1ac.IPBlock().WithCIDR("::/0").WithExcept(privateV6...)),
				),
			))
}

// policyDrift compares the live policy of stage ref with what Seedbed
// applies: nil live means it is missing.
func (t *Target) policyDrift(ref targets.StageRef, live *networkingv1.NetworkPolicy) (string, error) {
	name := policyName(ref)
	if live == nil {
		return fmt.Sprintf("network policy %s of the stage was deleted", name), nil
	}
	// The apply configuration is the object's JSON: read it back typed.
	b, err := json.Marshal(t.networkPolicy(ref))
	if err != nil {
		return "", err
	}
	var want networkingv1.NetworkPolicy
	if err := json.Unmarshal(b, &want); err != nil {
		return "", err
	}
	if !equality.Semantic.DeepEqual(want.Spec, live.Spec) {
		return fmt.Sprintf("network policy %s of the stage: its rules differ from what Seedbed wrote", name), nil
	}
	return "", nil
}

// readPolicy reads stage ref's NetworkPolicy; nil if there is none.
func (t *Target) readPolicy(ctx context.Context, ref targets.StageRef) (*networkingv1.NetworkPolicy, error) {
	p, err := t.cs.NetworkingV1().NetworkPolicies(t.cfg.Namespace).Get(ctx, policyName(ref), metav1.GetOptions{})
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the network policy of %s: %w", ref, err)
	}
	return p, nil
}

// applyPolicy writes stage ref's NetworkPolicy when it is missing or
// differs (a deploy that changes nothing in it costs no request).
func (t *Target) applyPolicy(ctx context.Context, ref targets.StageRef, live *networkingv1.NetworkPolicy) error {
	if live != nil {
		if d, err := t.policyDrift(ref, live); err != nil || d == "" {
			return err
		}
	}
	if _, err := t.cs.NetworkingV1().NetworkPolicies(t.cfg.Namespace).Apply(ctx, t.networkPolicy(ref), t.applyOpts()); err != nil {
		return fmt.Errorf("apply the network policy of %s: %w", ref, err)
	}
	return nil
}

// removePolicy deletes stage ref's NetworkPolicy.
func (t *Target) removePolicy(ctx context.Context, ref targets.StageRef) error {
	err := t.cs.NetworkingV1().NetworkPolicies(t.cfg.Namespace).Delete(ctx, policyName(ref), metav1.DeleteOptions{})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete the network policy of %s: %w", ref, err)
	}
	return nil
}
