package web

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/domains"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web/apiv1"
)

// Domains registers stages' custom domains and tells their states (package
// domains' Manager). Nil when Seedbed serves no HTTPS: the routes then say
// how to turn it on.
type Domains interface {
	List(ctx context.Context, app store.App, stages []store.Stage) ([]domains.Registration, error)
	Add(ctx context.Context, app store.App, stage store.Stage, name, by string) (domains.Registration, error)
	Remove(ctx context.Context, app store.App, name string) error
	Check(ctx context.Context, app store.App, name string) (store.Domain, error)
	URL(name string) string
	PublicIPs() []net.IP
}

// errNoHTTPS answers domain routes on a Seedbed that serves no HTTPS.
var errNoHTTPS = errorf(http.StatusConflict, "conflict",
	"This Seedbed serves no HTTPS, so stages cannot have domains of their own: start it with --https-addr :443 (and the gateway on port 80, --gateway-addr :80); see docs/domains.md.")

// domainsService is the configured Domains, or the error to answer with.
func (s *Server) domainsService() (Domains, error) {
	if s.cfg.Domains == nil {
		return nil, errNoHTTPS
	}
	return s.cfg.Domains, nil
}

func (s *Server) apiDomains(c echo.Context) error {
	ds, err := s.domainsService()
	if err != nil {
		return err
	}
	app, err := s.appParam(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	stages, err := s.cfg.Store.Stages(ctx, app.ID)
	if err != nil {
		return err
	}
	regs, err := ds.List(ctx, app, stages)
	if err != nil {
		return err
	}
	out := apiv1.Domains{Domains: []apiv1.Domain{}, PublicIPs: []string{}}
	for _, r := range regs {
		out.Domains = append(out.Domains, apiDomain(ds, r.Domain, r.Stage))
	}
	for _, ip := range ds.PublicIPs() {
		out.PublicIPs = append(out.PublicIPs, ip.String())
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) apiAddDomain(c echo.Context) error {
	var req apiv1.AddDomainRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	reg, err := s.addDomain(c, req.Stage, req.Name)
	if err != nil {
		return err
	}
	ds, _ := s.domainsService()
	return c.JSON(http.StatusCreated, apiDomain(ds, reg.Domain, reg.Stage))
}

// addDomain registers a name on a stage of the route's app.
func (s *Server) addDomain(c echo.Context, stageName, name string) (domains.Registration, error) {
	ds, err := s.domainsService()
	if err != nil {
		return domains.Registration{}, err
	}
	app, err := s.appParam(c)
	if err != nil {
		return domains.Registration{}, err
	}
	if strings.TrimSpace(stageName) == "" {
		return domains.Registration{}, errorf(http.StatusUnprocessableEntity, "invalid", "Name the stage the domain is for (stage).")
	}
	ctx := c.Request().Context()
	stage, err := s.cfg.Store.StageByName(ctx, app.ID, stageName)
	if err != nil {
		return domains.Registration{}, s.stageNotFound(app, stageName, err)
	}
	return ds.Add(ctx, app, stage, name, currentUser(c).Email)
}

func (s *Server) apiRemoveDomain(c echo.Context) error {
	ds, err := s.domainsService()
	if err != nil {
		return err
	}
	app, err := s.appParam(c)
	if err != nil {
		return err
	}
	if err := ds.Remove(c.Request().Context(), app, c.Param("domain")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) apiCheckDomain(c echo.Context) error {
	d, stage, err := s.checkDomain(c)
	if err != nil {
		return err
	}
	ds, _ := s.domainsService()
	return c.JSON(http.StatusOK, apiDomain(ds, d, stage))
}

// checkDomain looks a domain of the route's app up again.
func (s *Server) checkDomain(c echo.Context) (store.Domain, string, error) {
	ds, err := s.domainsService()
	if err != nil {
		return store.Domain{}, "", err
	}
	app, err := s.appParam(c)
	if err != nil {
		return store.Domain{}, "", err
	}
	ctx := c.Request().Context()
	d, err := ds.Check(ctx, app, c.Param("domain"))
	if err != nil {
		return d, "", err
	}
	st, err := s.cfg.Store.StageByID(ctx, d.StageID)
	if err != nil {
		return d, "", err
	}
	return d, st.Name, nil
}

// stageNotFound turns a failed stage look-up into the user's 404.
func (s *Server) stageNotFound(app store.App, stage string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "not_found", "App "+app.Name+" has no stage named "+stage+"; see seedbed stages list "+app.Name+".")
	}
	return err
}

func apiDomain(ds Domains, d store.Domain, stage string) apiv1.Domain {
	out := apiv1.Domain{Name: d.Name, Display: domains.Display(d.Name), Stage: stage, Status: d.Status, DNS: d.DNSStatus,
		DNSCheckedAt: d.DNSCheckedAt, IssuedAt: d.CertIssuedAt, ExpiresAt: d.CertExpiresAt, LastError: d.LastError, LastErrorAt: d.LastErrorAt,
		CreatedBy: d.CreatedBy, CreatedAt: d.CreatedAt}
	if d.DNSAddrs != "" {
		out.DNSAddrs = strings.Split(d.DNSAddrs, ",")
	}
	if ds != nil {
		out.URL = ds.URL(d.Name)
	}
	return out
}
