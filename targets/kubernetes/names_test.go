package kubernetes

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/seedbed/seedbed/targets"
)

func TestNamesAreValidAndDistinct(t *testing.T) {
	long := strings.Repeat("a", 63)
	cases := []struct {
		name string
		ref  targets.StageRef
		fn   targets.Function
	}{
		{"short", targets.StageRef{App: "shop", Stage: "prod"}, targets.Function{Service: "api", Name: "hello"}},
		{"long names are cut", targets.StageRef{App: long, Stage: long}, targets.Function{Service: long, Name: long}},
		{"app starts with a digit", targets.StageRef{App: "42shop", Stage: "prod"}, targets.Function{Service: "api", Name: "hello"}},
		{"cut at a dash", targets.StageRef{App: "a", Stage: strings.Repeat("b", 35) + "-x"}, targets.Function{Service: "c", Name: "d"}},
	}
	seen := map[string]string{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := baseName(tc.ref, tc.fn)
			for _, n := range []string{base, deploymentName(base, strings.Repeat("f", 10)), routesName(tc.ref)} {
				if errs := validation.IsDNS1035Label(base); len(errs) > 0 {
					t.Errorf("service name %q: %v", n, errs)
				}
				if errs := validation.IsDNS1123Label(n); len(errs) > 0 || len(n) > 63 {
					t.Errorf("name %q: %v", n, errs)
				}
			}
			if other, ok := seen[base]; ok {
				t.Errorf("%s and %s share the name %s", tc.name, other, base)
			}
			seen[base] = tc.name
		})
	}
	// The same readable part, different functions: the hash tells them apart.
	a := baseName(targets.StageRef{App: "a-b", Stage: "c"}, targets.Function{Service: "d", Name: "e"})
	b := baseName(targets.StageRef{App: "a", Stage: "b-c"}, targets.Function{Service: "d", Name: "e"})
	if a == b {
		t.Errorf("two stages share the name %s", a)
	}
}

func TestCheckRefRefusesNamesThatAreNoLabels(t *testing.T) {
	for _, ref := range []targets.StageRef{{App: "Shop", Stage: "prod"}, {App: "shop", Stage: "pr_1"}, {App: "shop", Stage: "x-"}, {App: "", Stage: "a"}} {
		if err := checkRef(ref); err == nil || !strings.Contains(err.Error(), "lower-case letters") {
			t.Errorf("%v: %v", ref, err)
		}
	}
	if err := checkRef(targets.StageRef{App: "shop", Stage: "pr-42"}); err != nil {
		t.Error(err)
	}
}

func TestPodProblemInWords(t *testing.T) {
	limit := corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")}}
	pod := func(status corev1.PodStatus) *corev1.Pod {
		return &corev1.Pod{
			Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: containerName, Image: "r/seedbed:1", Resources: limit}}},
			Status: status,
		}
	}
	waiting := func(reason, msg string, last *corev1.ContainerStateTerminated) corev1.PodStatus {
		return corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
			Name: containerName, Image: "r/seedbed:1", RestartCount: 3,
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}},
			LastTerminationState: corev1.ContainerState{Terminated: last},
		}}}
	}
	cases := []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"unschedulable", pod(corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: "0/1 nodes are available: 1 Insufficient cpu."}}}),
			"cannot be scheduled: 0/1 nodes are available: 1 Insufficient cpu."},
		{"image pull", pod(waiting("ImagePullBackOff", `Back-off pulling image "r/seedbed:1"`, nil)),
			`cannot pull the runner image r/seedbed:1 (ImagePullBackOff): Back-off pulling image "r/seedbed:1"`},
		{"crash loop", pod(waiting("CrashLoopBackOff", "back-off", &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1})),
			"crashes (exit code 1, Error), restarted 3 times (CrashLoopBackOff)"},
		{"oom", pod(waiting("CrashLoopBackOff", "back-off", &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137})),
			"killed for using more memory than its limit of 128Mi (OOMKilled), restarted 3 times"},
		{"not ready", pod(corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: containerName, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}),
			"running but not ready"},
		{"starting", pod(waiting("ContainerCreating", "", nil)), ""},
		{"ready", pod(corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: containerName, Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := podProblem(tc.pod)
			if tc.want == "" && got != "" || tc.want != "" && !strings.HasPrefix(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDeploymentState(t *testing.T) {
	two := int32(2)
	dep := func(gen, observed int64, updated, replicas, avail int32, conds ...appsv1.DeploymentCondition) *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Generation: gen},
			Spec:       appsv1.DeploymentSpec{Replicas: &two},
			Status: appsv1.DeploymentStatus{ObservedGeneration: observed, UpdatedReplicas: updated, Replicas: replicas,
				AvailableReplicas: avail, Conditions: conds},
		}
	}
	deadline := appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded"}
	cases := []struct {
		name string
		d    *appsv1.Deployment
		want rolloutState
	}{
		{"not yet observed", dep(2, 1, 2, 2, 2), rolling},
		{"complete", dep(1, 1, 2, 2, 2), available},
		{"one pod missing", dep(1, 1, 2, 2, 1), rolling},
		{"old pods still there", dep(1, 1, 2, 3, 2), rolling},
		{"deadline passed", dep(1, 1, 2, 2, 0, deadline), failed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := deploymentState(tc.d); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
