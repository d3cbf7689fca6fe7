package web

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets"
	"github.com/seedbed/seedbed/targets/dispatch"
	"github.com/seedbed/seedbed/web/apiv1"
	"github.com/seedbed/seedbed/web/views"
)

// DriftChecker tells how the objects of a stage's live release differ
// from what its target applied (dispatch.Target): changes made by hand in
// a cluster, which the stage's next deploy repairs.
type DriftChecker interface {
	CheckDrift(ctx context.Context, ref targets.StageRef) (dispatch.Drift, error)
	// Drifts tells, without asking the target, whether the stage's
	// target has anything that can drift, so that a page loads the check
	// (which may wait on a slow cluster) apart.
	Drifts(ctx context.Context, ref targets.StageRef) (kind string, can bool, err error)
}

// driftTimeout bounds a drift check: a cluster that does not answer must
// not hold a page.
const driftTimeout = 15 * time.Second

// errNoDrift answers drift checks on a server without targets.
var errNoDrift = errorf(http.StatusServiceUnavailable, "unavailable",
	"This Seedbed process runs no stages, so it cannot check them for drift: ask the seedbed serve that deploys them.")

// stageDrift checks st for drift. A target that cannot be reached or read
// is a 502 that says so: nothing is then known, which is not "none". Only
// owners see the cause, which names the cluster and namespace (the target
// settings are theirs to read).
func (s *Server) stageDrift(c echo.Context, app store.App, st store.Stage) (apiv1.StageDrift, error) {
	if s.cfg.Drift == nil {
		return apiv1.StageDrift{}, errNoDrift
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), driftTimeout)
	defer cancel()
	d, err := s.cfg.Drift.CheckDrift(ctx, targets.StageRef{App: app.Name, Stage: st.Name})
	if err != nil {
		s.log.Warn("drift check failed", "app", app.Name, "stage", st.Name, "err", err)
		what := "its target"
		if d.Target != "" {
			what = "its " + d.Target + " target"
		}
		msg := fmt.Sprintf("Could not check stage %s for drift: %s could not be reached or read, so whether it drifted is not known.", st.Name, what)
		if canDo(c, store.RoleOwner) {
			msg += fmt.Sprintf(" The cause: %v. Check the cluster and the stage's target settings (seedbed target %s %s).", err, app.Name, st.Name)
		} else {
			msg += " Try again later, or ask an owner of the app to check the stage's target settings."
		}
		return apiv1.StageDrift{}, errorf(http.StatusBadGateway, "unavailable", msg)
	}
	out := apiv1.StageDrift{CheckedAt: s.cfg.Now().UTC(), Target: d.Target, Checked: d.Checked, Drift: d.Found}
	if out.Drift == nil {
		out.Drift = []string{}
	}
	return out, nil
}

// apiStageDrift answers a stage's drift (viewers may read it).
func (s *Server) apiStageDrift(c echo.Context) error {
	app, st, err := s.stageParam(c)
	if err != nil {
		return err
	}
	d, err := s.stageDrift(c, app, st)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, d)
}

// stageMapDrift answers the drift section of a stage's map page, which
// the page loads apart (see stageMapPage): the section, or nothing for a
// stage whose target has nothing that can drift.
func (s *Server) stageMapDrift(c echo.Context) error {
	app, st, err := s.stageParam(c)
	if err != nil {
		return err
	}
	if s.cfg.Drift == nil {
		return c.NoContent(http.StatusOK)
	}
	return render(c, http.StatusOK, views.StageDrift(s.page(c, ""), s.driftView(c, app, st)))
}

// driftView is st's drift for its map page: a failed check is shown on
// the page, which has the rest of the map to show. A stage on a target
// with nothing that can drift (local) gets none: the line would say
// nothing on every local stage's map.
func (s *Server) driftView(c echo.Context, app store.App, st store.Stage) *views.DriftView {
	d, err := s.stageDrift(c, app, st)
	if err != nil {
		_, _, msg := statusOf(err)
		return &views.DriftView{Error: msg}
	}
	if !d.Checked {
		return nil
	}
	return &views.DriftView{Target: d.Target, Found: d.Drift, CheckedAt: d.CheckedAt}
}
