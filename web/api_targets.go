package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/web/apiv1"
)

// apiStageTarget answers where a stage's functions run (owners only: the
// settings name the cluster and namespace).
func (s *Server) apiStageTarget(c echo.Context) error {
	t, err := s.cfg.Pipelines.StageTarget(c.Request().Context(), c.Param("app"), c.Param("stage"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, apiTarget(t))
}

// apiSetStageTarget chooses a stage's target; it takes effect at the
// stage's next deploy.
func (s *Server) apiSetStageTarget(c echo.Context) error {
	var req apiv1.StageTarget
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	in := pipelines.StageTarget{Target: req.Target}
	if k := req.Kubernetes; k != nil {
		in.Kubernetes = &pipelines.KubernetesSettings{
			Kubeconfig: k.Kubeconfig, Namespace: k.Namespace, Image: k.Image, ImagePullSecret: k.ImagePullSecret,
			Replicas: k.Replicas, Memory: k.Memory, CPU: k.CPU, ProgressDeadline: k.ProgressDeadline,
		}
	}
	t, err := s.cfg.Pipelines.SetStageTarget(c.Request().Context(), c.Param("app"), c.Param("stage"), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, apiTarget(t))
}

func apiTarget(t pipelines.StageTarget) apiv1.StageTarget {
	out := apiv1.StageTarget{Target: t.Target}
	if k := t.Kubernetes; k != nil {
		out.Kubernetes = &apiv1.KubernetesSettings{
			Kubeconfig: k.Kubeconfig, Namespace: k.Namespace, Image: k.Image, ImagePullSecret: k.ImagePullSecret,
			Replicas: k.Replicas, Memory: k.Memory, CPU: k.CPU, ProgressDeadline: k.ProgressDeadline,
		}
	}
	return out
}
