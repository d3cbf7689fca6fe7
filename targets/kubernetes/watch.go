package kubernetes

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/seedbed/seedbed/targets"
)

// stageWatch follows the Deployments and pods of one stage through two
// watches (list, then watch, re-listing when a watch breaks), so that a
// rollout is seen the moment the cluster reports it, without polling the
// API server: each poll listed every Deployment of the stage and, every
// few rounds, every pod, which on a busy control plane competes for the
// CPU the controllers need to roll the pods out.
type stageWatch struct {
	deps, pods cache.Store
	synced     []cache.InformerSynced
	changed    chan struct{} // a buffered poke: something changed
	stop       context.CancelFunc
}

// watchStage starts following stage ref; stop the watch with close.
func (t *Target) watchStage(ctx context.Context, ref targets.StageRef) *stageWatch {
	ctx, cancel := context.WithCancel(ctx)
	w := &stageWatch{changed: make(chan struct{}, 1), stop: cancel}
	ns, sel := t.cfg.Namespace, stageSelector(ref)
	poke := func() {
		select {
		case w.changed <- struct{}{}:
		default:
		}
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke() },
		UpdateFunc: func(any, any) { poke() },
		DeleteFunc: func(any) { poke() },
	}
	deps := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = sel
			return t.cs.AppsV1().Deployments(ns).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = sel
			return t.cs.AppsV1().Deployments(ns).Watch(ctx, o)
		},
	}
	pods := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = sel
			return t.cs.CoreV1().Pods(ns).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = sel
			return t.cs.CoreV1().Pods(ns).Watch(ctx, o)
		},
	}
	for _, lw := range []struct {
		lw    cache.ListerWatcher
		obj   runtime.Object
		store *cache.Store
	}{{deps, &appsv1.Deployment{}, &w.deps}, {pods, &corev1.Pod{}, &w.pods}} {
		store, ctl := cache.NewInformerWithOptions(cache.InformerOptions{ListerWatcher: lw.lw, ObjectType: lw.obj, Handler: handler})
		*lw.store = store
		w.synced = append(w.synced, ctl.HasSynced)
		go ctl.RunWithContext(ctx)
	}
	return w
}

// close stops the watches.
func (w *stageWatch) close() { w.stop() }

// hasSynced says whether both watches have listed the stage once.
func (w *stageWatch) hasSynced() bool {
	for _, s := range w.synced {
		if !s() {
			return false
		}
	}
	return true
}

// deployment is the Deployment name as last seen, or nil.
func (w *stageWatch) deployment(ns, name string) *appsv1.Deployment {
	obj, ok, err := w.deps.GetByKey(ns + "/" + name)
	if err != nil || !ok {
		return nil
	}
	d, _ := obj.(*appsv1.Deployment)
	return d
}

// podList is every pod of the stage as last seen.
func (w *stageWatch) podList() []*corev1.Pod {
	var out []*corev1.Pod
	for _, obj := range w.pods.List() {
		if p, ok := obj.(*corev1.Pod); ok {
			out = append(out, p)
		}
	}
	return out
}

// readyPods counts, per revision, the pods that are ready and not being
// deleted: what a Service's endpoints follow.
func readyPods(pods []*corev1.Pod) map[string]int32 {
	n := map[string]int32{}
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				n[pod.Labels[LabelFunction]+"/"+pod.Labels[LabelRevision]]++
			}
		}
	}
	return n
}
