package kubernetes

import (
	"fmt"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// NewClient connects to a cluster: through the kubeconfig file at path, or,
// when path is empty, with the service account of the pod Seedbed runs in
// (in-cluster). client-go's default rate limit (5 requests/s) would make a
// deploy of 20 functions take seconds of waiting alone, so it is raised.
func NewClient(kubeconfig string) (kubernetes.Interface, error) {
	var (
		cfg *rest.Config
		err error
	)
	if kubeconfig == "" {
		cfg, err = rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("connect to the cluster Seedbed runs in (no kubeconfig set): %w; set a kubeconfig path in the stage's kubernetes settings when Seedbed runs outside the cluster", err)
		}
	} else {
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("read kubeconfig %s: %w", kubeconfig, err)
		}
	}
	cfg.QPS, cfg.Burst = 100, 200
	cfg.UserAgent = "seedbed"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return cs, nil
}
