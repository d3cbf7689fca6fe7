//go:build k8s

package kubernetes

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/seedbed/seedbed/targets"
)

// endpoint is one side of a connection a NetworkPolicy judges: a pod (its
// namespace, the namespace's labels, its labels) or an address.
type endpoint struct {
	ns       string
	nsLabels map[string]string
	labels   map[string]string
	ip       string // an address outside any pod, when set
	port     int
}

func selects(t *testing.T, sel *metav1.LabelSelector, l map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatal(err)
	}
	return s.Matches(labels.Set(l))
}

// admits says whether peer (of a policy in namespace policyNS) covers e,
// as the NetworkPolicy API defines it.
func admits(t *testing.T, peer networkingv1.NetworkPolicyPeer, policyNS string, e endpoint) bool {
	if peer.IPBlock != nil {
		if e.ip == "" {
			return false // pods are judged by their labels here
		}
		addr := netip.MustParseAddr(e.ip)
		if !netip.MustParsePrefix(peer.IPBlock.CIDR).Contains(addr) {
			return false
		}
		for _, ex := range peer.IPBlock.Except {
			if netip.MustParsePrefix(ex).Contains(addr) {
				return false
			}
		}
		return true
	}
	if e.ip != "" {
		return false
	}
	nsOK := e.ns == policyNS
	if peer.NamespaceSelector != nil {
		nsOK = selects(t, peer.NamespaceSelector, e.nsLabels)
	}
	return nsOK && (peer.PodSelector == nil || selects(t, peer.PodSelector, e.labels))
}

func portOK(ports []networkingv1.NetworkPolicyPort, port int) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if p.Port == nil || p.Port.IntValue() == port {
			return true
		}
	}
	return false
}

// allowsIn says whether pol lets from connect to the pods it selects.
func allowsIn(t *testing.T, pol *networkingv1.NetworkPolicy, from endpoint) bool {
	for _, r := range pol.Spec.Ingress {
		if !portOK(r.Ports, from.port) {
			continue
		}
		if len(r.From) == 0 {
			return true
		}
		for _, p := range r.From {
			if admits(t, p, pol.Namespace, from) {
				return true
			}
		}
	}
	return false
}

// allowsOut says whether pol lets the pods it selects connect to to.
func allowsOut(t *testing.T, pol *networkingv1.NetworkPolicy, to endpoint) bool {
	for _, r := range pol.Spec.Egress {
		if !portOK(r.Ports, to.port) {
			continue
		}
		if len(r.To) == 0 {
			return true
		}
		for _, p := range r.To {
			if admits(t, p, pol.Namespace, to) {
				return true
			}
		}
	}
	return false
}

// TestNetworkPolicyIsolatesEachStage checks the NetworkPolicy objects each
// stage gets, read back from the API server: what they select and what
// their rules let in and out, judged by the NetworkPolicy API's semantics.
// kwok's pods have no network, so nothing here is enforced: the cluster's
// network plugin does that.
func TestNetworkPolicyIsolatesEachStage(t *testing.T) {
	cs := newClient(t)
	ns := newNamespace(t, cs)
	tg := newTarget(t, cs, ns)
	ctx := context.Background()
	shop := targets.StageRef{App: "shop", Stage: "prod"}
	blog := targets.StageRef{App: "blog", Stage: "prod"}
	if err := tg.Apply(ctx, shop, []targets.Function{fn("api", "a", "1"), fn("api", "b", "1")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := tg.Apply(ctx, blog, []targets.Function{fn("web", "home", "1")}, nil); err != nil {
		t.Fatal(err)
	}
	policy := func(ref targets.StageRef) *networkingv1.NetworkPolicy {
		t.Helper()
		p, err := cs.NetworkingV1().NetworkPolicies(ns).Get(ctx, policyName(ref), metav1.GetOptions{})
		if err != nil {
			t.Fatalf("network policy of %s: %v", ref, err)
		}
		return p
	}
	shopPol, blogPol := policy(shop), policy(blog)
	for k, v := range ownerLabels(shop) {
		if shopPol.Labels[k] != v {
			t.Errorf("policy %s lacks the owner label %s=%s: %v", shopPol.Name, k, v, shopPol.Labels)
		}
	}

	// Each policy selects exactly its stage's pods.
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, pod := range pods.Items {
		for _, pol := range []*networkingv1.NetworkPolicy{shopPol, blogPol} {
			if selects(t, &pol.Spec.PodSelector, pod.Labels) {
				count[pol.Name]++
				if app := pod.Labels[LabelApp]; !strings.HasPrefix(pol.Name, app+"-") {
					t.Errorf("policy %s selects pod %s of app %s", pol.Name, pod.Name, app)
				}
			}
		}
	}
	if count[shopPol.Name] != 4 || count[blogPol.Name] != 2 { // 2 replicas per function
		t.Errorf("pods selected: %v, want 4 of shop and 2 of blog", count)
	}
	if len(shopPol.Spec.PolicyTypes) != 2 {
		t.Errorf("policy types %v, want Ingress and Egress", shopPol.Spec.PolicyTypes)
	}

	podOf := func(ref targets.StageRef, port int) endpoint {
		l := ownerLabels(ref)
		l[LabelFunction], l[LabelRevision] = "x", "y"
		return endpoint{ns: ns, nsLabels: map[string]string{corev1.LabelMetadataName: ns}, labels: l, port: port}
	}
	gw := endpoint{ns: "seedbed", nsLabels: map[string]string{corev1.LabelMetadataName: "seedbed"}, labels: DefaultGatewayLabels(), port: RunnerPort}
	fakeGW := gw
	fakeGW.ns, fakeGW.nsLabels = ns, map[string]string{corev1.LabelMetadataName: ns} // a function wearing the gateway's labels
	otherNS := endpoint{ns: "default", nsLabels: map[string]string{corev1.LabelMetadataName: "default"}, labels: map[string]string{"app": "db"}, port: 5432}
	dns := endpoint{ns: "kube-system", nsLabels: map[string]string{corev1.LabelMetadataName: "kube-system"}, labels: map[string]string{"k8s-app": "kube-dns"}, port: 53}
	addr := func(ip string, port int) endpoint { return endpoint{ip: ip, port: port} }

	for _, c := range []struct {
		what string
		got  bool
		want bool
	}{
		{"gateway → shop's runner port", allowsIn(t, shopPol, gw), true},
		{"gateway → shop on another port", allowsIn(t, shopPol, endpoint{ns: gw.ns, nsLabels: gw.nsLabels, labels: gw.labels, port: 22}), false},
		{"pod in the functions' namespace with the gateway's labels → shop", allowsIn(t, shopPol, fakeGW), false},
		{"shop → shop", allowsIn(t, shopPol, podOf(shop, RunnerPort)), true},
		{"blog → shop", allowsIn(t, shopPol, podOf(blog, RunnerPort)), false},
		{"shop → blog", allowsIn(t, blogPol, podOf(shop, RunnerPort)), false},
		{"pod of another namespace → shop", allowsIn(t, shopPol, otherNS), false},
		{"internet → shop", allowsIn(t, shopPol, addr("203.0.113.9", RunnerPort)), false},

		{"shop → shop (egress)", allowsOut(t, shopPol, podOf(shop, RunnerPort)), true},
		{"shop → blog (egress)", allowsOut(t, shopPol, podOf(blog, RunnerPort)), false},
		{"shop → Seedbed (artifacts)", allowsOut(t, shopPol, endpoint{ns: gw.ns, nsLabels: gw.nsLabels, labels: gw.labels, port: 8080}), true},
		{"shop → cluster DNS", allowsOut(t, shopPol, dns), true},
		{"shop → pod of another namespace", allowsOut(t, shopPol, otherNS), false},
		{"shop → internet 93.184.215.14:443", allowsOut(t, shopPol, addr("93.184.215.14", 443)), true},
		{"shop → internet 2606:4700::1111", allowsOut(t, shopPol, addr("2606:4700::1111", 443)), true},
		{"shop → cloud metadata 169.254.169.254", allowsOut(t, shopPol, addr("169.254.169.254", 80)), false},
		{"shop → metadata fd00:ec2::254", allowsOut(t, shopPol, addr("fd00:ec2::254", 80)), false},
		{"shop → a pod address 10.244.0.7", allowsOut(t, shopPol, addr("10.244.0.7", 8080)), false},
		{"shop → a service address 10.96.0.1", allowsOut(t, shopPol, addr("10.96.0.1", 443)), false},
		{"shop → a node 192.168.1.10", allowsOut(t, shopPol, addr("192.168.1.10", 10250)), false},
		{"shop → 172.17.0.1", allowsOut(t, shopPol, addr("172.17.0.1", 80)), false},
		{"shop → 127.0.0.1", allowsOut(t, shopPol, addr("127.0.0.1", 80)), false},
	} {
		if c.got != c.want {
			t.Errorf("%s: allowed %v, want %v", c.what, c.got, c.want)
		}
	}

	// Drift: deleted by hand, then opened by hand; each is seen and repaired.
	if d, err := tg.Drift(ctx, shop); err != nil || len(d) != 0 {
		t.Fatalf("drift right after the apply: %v, %v", d, err)
	}
	if err := cs.NetworkingV1().NetworkPolicies(ns).Delete(ctx, shopPol.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if d, err := tg.Drift(ctx, shop); err != nil || !strings.Contains(strings.Join(d, "\n"), "network policy "+shopPol.Name+" of the stage was deleted") {
		t.Errorf("drift after deleting the policy: %v, %v", d, err)
	}
	if err := tg.Apply(ctx, shop, []targets.Function{fn("api", "a", "1"), fn("api", "b", "1")}, nil); err != nil {
		t.Fatal(err)
	}
	opened := policy(shop)
	opened.Spec.Ingress = append(opened.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{}) // from anywhere
	if _, err := cs.NetworkingV1().NetworkPolicies(ns).Update(ctx, opened, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	if d, err := tg.Drift(ctx, shop); err != nil || !strings.Contains(strings.Join(d, "\n"), "its rules differ") {
		t.Errorf("drift after opening the policy: %v, %v", d, err)
	}
	var log logLines
	if err := tg.Apply(ctx, shop, []targets.Function{fn("api", "a", "1"), fn("api", "b", "1")}, &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "drift: network policy") {
		t.Errorf("the deploy log does not report the policy's drift:\n%s", log.String())
	}
	if allowsIn(t, policy(shop), podOf(blog, RunnerPort)) {
		t.Error("the apply did not close the policy again")
	}
	if d, err := tg.Drift(ctx, shop); err != nil || len(d) != 0 {
		t.Errorf("drift after the repair: %v, %v", d, err)
	}

	// Remove deletes the stage's policy and leaves the other stage's.
	if err := tg.Remove(ctx, shop); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.NetworkingV1().NetworkPolicies(ns).Get(ctx, shopPol.Name, metav1.GetOptions{}); !isNotFound(err) {
		t.Errorf("policy of a removed stage: %v, want not found", err)
	}
	policy(blog)
}
