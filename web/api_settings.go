package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/web/apiv1"
)

// apiAppSettings answers an app's forge settings; the token only as
// "set" or "not set".
func (s *Server) apiAppSettings(c echo.Context) error {
	fs, err := s.cfg.Pipelines.ForgeSettings(c.Request().Context(), c.Param("app"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, apiSettings(fs))
}

func (s *Server) apiUpdateAppSettings(c echo.Context) error {
	var req apiv1.AppSettingsRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	upd := pipelines.ForgeSettingsUpdate{Forge: req.Forge, APIURL: req.APIURL, Repo: req.Repo, Token: req.Token}
	if req.Poll != nil {
		d, err := parsePoll(*req.Poll)
		if err != nil {
			return err
		}
		upd.PollInterval = &d
	}
	fs, err := s.cfg.Pipelines.SaveForgeSettings(c.Request().Context(), c.Param("app"), upd)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, apiSettings(fs))
}

// parsePoll reads a polling interval: a Go duration ("30s", "5m"), or
// "0", "off" or "" for none.
func parsePoll(v string) (time.Duration, error) {
	switch v = strings.TrimSpace(v); strings.ToLower(v) {
	case "", "0", "off", "none":
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, errorf(http.StatusUnprocessableEntity, "invalid", "poll: "+strings.TrimSpace(v)+" is not an interval; write e.g. 30s, 5m or 1h, or 0 to turn polling off.")
	}
	return d, nil
}

func apiSettings(fs pipelines.ForgeSettings) apiv1.AppSettings {
	out := apiv1.AppSettings{Forge: fs.Forge, APIURL: fs.APIURL, Repo: fs.Repo, RepoDerived: fs.RepoDerived,
		Token: "not set", Poll: fs.PollInterval.String(), PollSeconds: int(fs.PollInterval / time.Second)}
	if fs.TokenSet {
		out.Token = "set"
	}
	return out
}
