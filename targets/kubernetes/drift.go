package kubernetes

import (
	"bytes"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// drift compares the live objects of the revisions st keeps running with
// what Seedbed applies, field by field for the fields Seedbed sets, and
// describes every difference: an object changed or deleted by hand.
func (t *Target) drift(st *stagePlan, live *liveState) []string {
	var out []string
	liveRev := map[string]string{}
	if live.table != nil {
		for _, e := range live.table.Functions {
			liveRev[e.Key] = e.Revision
			// What the stage serves must exist whatever this apply does.
			if _, ok := live.deployments[deploymentName(e.Service, e.Revision)]; !ok {
				out = append(out, fmt.Sprintf("deployment %s of function %s (the live revision) was deleted", deploymentName(e.Service, e.Revision), e.Key))
			}
			if _, ok := live.services[e.Service]; !ok {
				out = append(out, fmt.Sprintf("service %s of function %s was deleted", e.Service, e.Key))
			}
		}
		// A stage applied before has its network policy.
		if d, err := t.policyDrift(st.ref, live.policy); err != nil {
			out = append(out, fmt.Sprintf("network policy of the stage: %v", err))
		} else if d != "" {
			out = append(out, d)
		}
	}
	for _, p := range st.fns {
		if d := live.deployments[p.deployName]; d != nil {
			out = append(out, deploymentDrift(d, p.replicas, t.cfg.Image, p.memory)...)
		}
		if s := live.secrets[p.deployName]; s != nil && !bytes.Equal(s.Data[secretFunctionKey], p.spec) {
			out = append(out, fmt.Sprintf("secret %s of function %s: the function's spec or env differs from what Seedbed wrote", s.Name, p.fn.Key()))
		}
		if s := live.services[p.base]; s != nil {
			if rev, ok := liveRev[p.fn.Key()]; ok {
				out = append(out, serviceDrift(s, p, rev)...)
			}
		}
	}
	sort.Strings(out)
	return out
}

func deploymentDrift(d *appsv1.Deployment, replicas int32, image string, memory int) []string {
	var out []string
	key := d.Annotations[AnnotationFunction]
	if d.Spec.Replicas != nil && *d.Spec.Replicas != replicas {
		out = append(out, fmt.Sprintf("deployment %s of function %s: replicas is %d, Seedbed set %d", d.Name, key, *d.Spec.Replicas, replicas))
	}
	var c *corev1.Container
	for i := range d.Spec.Template.Spec.Containers {
		if d.Spec.Template.Spec.Containers[i].Name == containerName {
			c = &d.Spec.Template.Spec.Containers[i]
		}
	}
	if c == nil {
		return append(out, fmt.Sprintf("deployment %s of function %s: its container %q is gone", d.Name, key, containerName))
	}
	if c.Image != image {
		out = append(out, fmt.Sprintf("deployment %s of function %s: image is %s, Seedbed set %s", d.Name, key, c.Image, image))
	}
	want := resource.MustParse(fmt.Sprintf("%dMi", memory))
	if got, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok || got.Cmp(want) != 0 {
		out = append(out, fmt.Sprintf("deployment %s of function %s: memory limit is %s, Seedbed set %s", d.Name, key, quantity(got, ok), want.String()))
	}
	return out
}

func quantity(q resource.Quantity, ok bool) string {
	if !ok {
		return "none"
	}
	return q.String()
}

// serviceDrift compares a function's Service with what Seedbed applied; rev
// is the revision it should select ("" to leave the selector's revision
// out).
func serviceDrift(s *corev1.Service, p *planned, rev string) []string {
	var out []string
	if rev != "" && s.Spec.Selector[LabelRevision] != rev {
		out = append(out, fmt.Sprintf("service %s of function %s: its selector points at revision %q, the stage's live revision is %s", s.Name, p.fn.Key(), s.Spec.Selector[LabelRevision], rev))
	}
	for _, k := range []string{LabelManagedBy, LabelApp, LabelStage, LabelFunction} {
		if s.Spec.Selector[k] == "" || len(s.Spec.Selector) != 5 {
			out = append(out, fmt.Sprintf("service %s of function %s: its selector was changed", s.Name, p.fn.Key()))
			break
		}
	}
	if len(s.Spec.Ports) != 1 || s.Spec.Ports[0].Port != ServicePort || s.Spec.Ports[0].TargetPort.StrVal != "http" {
		out = append(out, fmt.Sprintf("service %s of function %s: its ports were changed", s.Name, p.fn.Key()))
	}
	return out
}
