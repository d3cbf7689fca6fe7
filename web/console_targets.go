package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web/views"
)

// stageTargetForm fills the target part of the settings page (owners only:
// the settings name clusters and namespaces).
func stageTargetForm(c echo.Context, m *views.StageSettingsModel, st store.Stage, base string) {
	if !canDo(c, store.RoleOwner) {
		return
	}
	m.TargetURL = base + "/target"
	t, err := pipelines.ParseStageTarget(st)
	if err != nil || t.Kubernetes == nil {
		return
	}
	k := t.Kubernetes
	num := func(n int) string {
		if n == 0 {
			return ""
		}
		return strconv.Itoa(n)
	}
	m.Kube = views.KubeSettingsForm{Kubeconfig: k.Kubeconfig, Namespace: k.Namespace, Image: k.Image, ImagePullSecret: k.ImagePullSecret,
		Replicas: num(k.Replicas), Memory: num(k.Memory), CPU: k.CPU, ProgressDeadline: num(k.ProgressDeadline)}
}

// saveStageTarget chooses where a stage runs, from the settings page.
func (s *Server) saveStageTarget(c echo.Context) error {
	in := pipelines.StageTarget{Target: c.FormValue("target")}
	if in.Target == pipelines.TargetKubernetes {
		k := &pipelines.KubernetesSettings{Kubeconfig: strings.TrimSpace(c.FormValue("kubeconfig")), Namespace: strings.TrimSpace(c.FormValue("namespace")),
			Image: strings.TrimSpace(c.FormValue("image")), ImagePullSecret: strings.TrimSpace(c.FormValue("image_pull_secret")), CPU: strings.TrimSpace(c.FormValue("cpu"))}
		for _, f := range []struct {
			name string
			dst  *int
		}{{"replicas", &k.Replicas}, {"memory", &k.Memory}, {"progress_deadline", &k.ProgressDeadline}} {
			v := strings.TrimSpace(c.FormValue(f.name))
			if v == "" {
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				return s.settingsFormError(c, errorf(http.StatusBadRequest, "invalid", v+" is not a whole number."), f.name)
			}
			*f.dst = n
		}
		in.Kubernetes = k
	}
	if _, err := s.cfg.Pipelines.SetStageTarget(c.Request().Context(), c.Param("app"), c.Param("stage"), in); err != nil {
		return s.settingsFormError(c, err, "target")
	}
	s.flash(c, c.Param("stage")+" runs on "+in.Target+" from its next deploy.")
	return c.Redirect(http.StatusSeeOther, stageURLPath(c.Param("app"), c.Param("stage"))+"/settings")
}
