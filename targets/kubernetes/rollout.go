package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/seedbed/seedbed/targets"
)

// rolloutState is where one function's new Deployment stands.
type rolloutState int

const (
	rolling rolloutState = iota
	available
	failed
)

// deploymentState reads a Deployment's status the way `kubectl rollout
// status` does: complete once the controller has seen this generation and
// every replica is updated and available; failed once the progress
// deadline passed.
func deploymentState(d *appsv1.Deployment) (rolloutState, string) {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			return failed, c.Message
		}
	}
	if d.Status.ObservedGeneration < d.Generation {
		return rolling, "waiting for the deployment controller"
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	if s.UpdatedReplicas == want && s.Replicas == want && s.AvailableReplicas == want {
		return available, ""
	}
	return rolling, fmt.Sprintf("%d of %d pods available", s.AvailableReplicas, want)
}

// waitRollouts waits until every planned Deployment is available, as w
// (started before the apply) sees them. A revision this apply created
// (fresh) counts as rolled out as soon as as many of its pods are ready as
// it has replicas: that is what the Service's endpoints follow, and the
// Deployment's own status says the same only after the ReplicaSet and
// Deployment controllers have each written a status in turn. It logs in
// words what keeps pods from starting (not scheduled, image pull errors,
// crash loops, out-of-memory kills, failing readiness), each once, and
// fails as soon as a Deployment passes its progress deadline, naming every
// function that failed and why.
func (t *Target) waitRollouts(ctx context.Context, st *stagePlan, w *stageWatch, fresh map[string]bool, log targets.Logger) error {
	ns := t.cfg.Namespace
	said := map[string]bool{}
	seen := map[string]bool{}
	// A backstop: every change pokes w.changed, but a state is also
	// looked at now and then without one.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if w.hasSynced() {
			pods := w.podList()
			ready := readyPods(pods)
			var pending, broken []*planned
			reasons := map[*planned]string{}
			for _, p := range st.fns {
				d := w.deployment(ns, p.deployName)
				if d == nil {
					if seen[p.deployName] {
						return fmt.Errorf("function %s: deployment %s disappeared during the rollout", p.fn.Key(), p.deployName)
					}
					pending = append(pending, p) // applied; the watch has not brought it yet
					continue
				}
				seen[p.deployName] = true
				state, msg := deploymentState(d)
				if state == rolling && fresh[p.deployName] && ready[p.base+"/"+p.rev] >= t.cfg.Replicas {
					state = available
				}
				switch state {
				case failed:
					broken = append(broken, p)
					reasons[p] = msg
				case rolling:
					pending = append(pending, p)
				}
			}
			if len(pending) == 0 && len(broken) == 0 {
				return nil
			}
			problems, waiting := podProblems(pods)
			for _, p := range append(pending, broken...) {
				for _, line := range problems[p.rev] {
					msg := fmt.Sprintf("function %s (revision %s): %s", p.fn.Key(), p.rev, line)
					if !said[msg] {
						said[msg] = true
						log.Printf("%s", msg)
					}
				}
			}
			if len(broken) > 0 {
				var errs []error
				for _, p := range broken {
					cause := "its pods did not become ready"
					if lines := problems[p.rev]; len(lines) > 0 {
						cause = strings.Join(dedupe(stripPodNames(lines)), "; ")
					} else if w := waiting[p.rev]; w != "" {
						cause = w
					}
					errs = append(errs, fmt.Errorf("rollout of function %s failed after %ds: %s (%s)", p.fn.Key(), t.shared.ProgressDeadline, cause, reasons[p]))
				}
				errs = append(errs, errors.New("the stage keeps serving its previous release"))
				return errors.Join(errs...)
			}
			if err := ctx.Err(); err != nil {
				names := make([]string, len(pending))
				for i, p := range pending {
					names[i] = p.fn.Key()
				}
				return fmt.Errorf("stopped waiting for the rollout of %s: %w", strings.Join(names, ", "), context.Cause(ctx))
			}
		}
		select {
		case <-ctx.Done():
			if !w.hasSynced() {
				return fmt.Errorf("stopped waiting for the rollout of %s (the watch of its deployments and pods never listed them): %w", st.ref, context.Cause(ctx))
			}
			// Look once more, then report what was still pending.
		case <-w.changed:
		case <-tick.C:
		}
	}
}

// podProblems describes, per revision, what keeps each of its pods from
// being ready; waiting says, per revision, how many pods have not started
// yet (no kubelet has reported on them): the cause of a failure when no
// pod reported anything worse.
func podProblems(pods []*corev1.Pod) (problems map[string][]string, waiting map[string]string) {
	problems = map[string][]string{}
	unstarted, unscheduled := map[string]int{}, map[string]int{}
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		rev := pod.Labels[LabelRevision]
		if why := podProblem(pod); why != "" {
			problems[rev] = append(problems[rev], "pod "+pod.Name+": "+why)
			continue
		}
		if pod.Status.Phase == corev1.PodPending && len(pod.Status.ContainerStatuses) == 0 {
			if pod.Spec.NodeName == "" {
				unscheduled[rev]++
			} else {
				unstarted[rev]++
			}
		}
	}
	for _, lines := range problems {
		sort.Strings(lines)
	}
	waiting = map[string]string{}
	for rev, n := range unscheduled {
		waiting[rev] = fmt.Sprintf("%d pod(s) not scheduled to a node yet", n)
	}
	for rev, n := range unstarted {
		if w := waiting[rev]; w != "" {
			waiting[rev] = w + fmt.Sprintf(", %d pod(s) scheduled but not started (no status from the node)", n)
		} else {
			waiting[rev] = fmt.Sprintf("%d pod(s) scheduled but not started (no status from the node)", n)
		}
	}
	return problems, waiting
}

// podProblem says in words why pod is not serving, as a kubelet and the
// scheduler report it; "" when it is ready or simply still starting.
func podProblem(pod *corev1.Pod) string {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return "cannot be scheduled: " + c.Message
		}
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name != containerName {
			continue
		}
		if w := cs.State.Waiting; w != nil {
			switch w.Reason {
			case "ImagePullBackOff", "ErrImagePull", "InvalidImageName":
				return fmt.Sprintf("cannot pull the runner image %s (%s): %s", containerImage(pod, cs.Image), w.Reason, w.Message)
			case "CrashLoopBackOff":
				if term := cs.LastTerminationState.Terminated; term != nil {
					if term.Reason == "OOMKilled" {
						return fmt.Sprintf("killed for using more memory than its limit%s (OOMKilled), restarted %d times", memoryLimit(pod), cs.RestartCount)
					}
					return fmt.Sprintf("crashes (exit code %d, %s), restarted %d times (CrashLoopBackOff)", term.ExitCode, term.Reason, cs.RestartCount)
				}
				return fmt.Sprintf("crashes, restarted %d times (CrashLoopBackOff)", cs.RestartCount)
			case "ContainerCreating", "PodInitializing":
				return ""
			default:
				return fmt.Sprintf("waiting: %s %s", w.Reason, w.Message)
			}
		}
		if cs.State.Running != nil && !cs.Ready {
			return "running but not ready (its readiness probe fails: the runner does not answer on its port)"
		}
		if term := cs.State.Terminated; term != nil {
			if term.Reason == "OOMKilled" {
				return fmt.Sprintf("killed for using more memory than its limit%s (OOMKilled)", memoryLimit(pod))
			}
			return fmt.Sprintf("exited (exit code %d, %s)", term.ExitCode, term.Reason)
		}
	}
	return ""
}

// containerImage is the image the pod asks for (a kubelet may report a
// resolved one, or none while pulling).
func containerImage(pod *corev1.Pod, reported string) string {
	for _, c := range pod.Spec.Containers {
		if c.Name == containerName && c.Image != "" {
			return c.Image
		}
	}
	return reported
}

func memoryLimit(pod *corev1.Pod) string {
	for _, c := range pod.Spec.Containers {
		if c.Name == containerName {
			if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
				return " of " + q.String()
			}
		}
	}
	return ""
}

// stripPodNames turns "pod NAME: why" into "why", so that the error says
// each cause once however many pods share it.
func stripPodNames(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		if _, why, ok := strings.Cut(l, ": "); ok && strings.HasPrefix(l, "pod ") {
			l = why
		}
		out[i] = l
	}
	return out
}

func dedupe(lines []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range lines {
		// Restart counts differ between pods of one cause.
		key := l
		if i := strings.Index(l, ", restarted"); i >= 0 {
			key = l[:i]
		}
		if !seen[key] {
			seen[key] = true
			out = append(out, l)
		}
	}
	return out
}
