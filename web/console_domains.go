package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/domains"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web/views"
)

// domainsModel reads an app's domains for the page.
func (s *Server) domainsModel(c echo.Context) (views.DomainsModel, error) {
	app, err := s.appParam(c)
	if err != nil {
		return views.DomainsModel{}, err
	}
	m := views.DomainsModel{Page: s.page(c, "Domains of "+app.Name), App: app.Name, AppURL: appURL(app.Name)}
	m.Page.Nav = "apps"
	ds, err := s.domainsService()
	if err != nil {
		_, _, m.Disabled = statusOf(err)
		return m, nil
	}
	ctx := c.Request().Context()
	stages, err := s.cfg.Store.Stages(ctx, app.ID)
	if err != nil {
		return m, err
	}
	owner := canDo(c, store.RoleOwner)
	for _, st := range stages {
		m.Stages = append(m.Stages, st.Name)
	}
	if owner {
		m.AddURL = appURL(app.Name) + "/domains"
	}
	var ips []string
	for _, ip := range ds.PublicIPs() {
		ips = append(ips, ip.String())
	}
	m.PublicIPs = strings.Join(ips, ", ")
	regs, err := ds.List(ctx, app, stages)
	if err != nil {
		return m, err
	}
	for _, r := range regs {
		d := r.Domain
		row := views.DomainRow{Name: d.Name, Display: domains.Display(d.Name), Stage: r.Stage, URL: ds.URL(d.Name),
			State: d.Status, DNS: d.DNSStatus, DNSAddrs: strings.ReplaceAll(d.DNSAddrs, ",", ", "), CheckedAt: d.DNSCheckedAt,
			ExpiresAt: d.CertExpiresAt, LastError: d.LastError, ErrorAt: d.LastErrorAt}
		if d.Status != store.DomainIssued && (d.DNSStatus == store.DNSElsewhere || d.DNSStatus == store.DNSMissing) {
			row.State = "dns"
		}
		if owner {
			base := appURL(app.Name) + "/domains/" + url.PathEscape(d.Name)
			row.CheckURL, row.RemoveURL = base+"/check", base+"/delete"
		}
		m.Rows = append(m.Rows, row)
	}
	return m, nil
}

func (s *Server) domainsPage(c echo.Context) error {
	m, err := s.domainsModel(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.DomainsPage(m))
}

// addDomainForm registers a domain; a mistake shows the page again with
// the message and what the user typed.
func (s *Server) addDomainForm(c echo.Context) error {
	stage, name := c.FormValue("stage"), c.FormValue("name")
	reg, err := s.addDomain(c, stage, name)
	if err != nil {
		status, _, msg := statusOf(err)
		if status >= 500 {
			return err
		}
		m, lerr := s.domainsModel(c)
		if lerr != nil {
			return lerr
		}
		m.Stage, m.Name, m.Error = stage, name, msg
		return render(c, status, views.DomainsPage(m))
	}
	s.flash(c, domains.Display(reg.Name)+" added to "+reg.Stage+"; its certificate is obtained once its DNS points here.")
	return c.Redirect(http.StatusSeeOther, appURL(c.Param("app"))+"/domains")
}

func (s *Server) checkDomainForm(c echo.Context) error {
	d, _, err := s.checkDomain(c)
	if err != nil {
		return err
	}
	s.flash(c, "Checked the DNS of "+domains.Display(d.Name)+": "+d.DNSStatus+".")
	return c.Redirect(http.StatusSeeOther, appURL(c.Param("app"))+"/domains")
}

func (s *Server) removeDomainForm(c echo.Context) error {
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
	s.flash(c, c.Param("domain")+" removed from "+app.Name+".")
	return c.Redirect(http.StatusSeeOther, appURL(app.Name)+"/domains")
}
