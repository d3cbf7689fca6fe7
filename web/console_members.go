package web

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web/views"
)

// membersModel reads an app's members for the page.
func (s *Server) membersModel(c echo.Context) (views.MembersModel, error) {
	acc, err := s.access()
	if err != nil {
		return views.MembersModel{}, err
	}
	app, err := s.appParam(c)
	if err != nil {
		return views.MembersModel{}, err
	}
	ms, err := acc.Members(c.Request().Context(), app.ID)
	if err != nil {
		return views.MembersModel{}, err
	}
	owner := canDo(c, store.RoleOwner)
	m := views.MembersModel{Page: s.page(c, fmt.Sprintf("%s members", app.Name)), App: app.Name, AppURL: appURL(app.Name)}
	m.Page.Nav = "apps"
	if owner {
		m.SetURL = appURL(app.Name) + "/members"
	}
	for _, mem := range ms {
		row := views.MemberRow{Email: mem.Email, Role: mem.Role, Since: mem.CreatedAt}
		if owner {
			row.RemoveURL = appURL(app.Name) + "/members/" + url.PathEscape(mem.Email) + "/delete"
		}
		m.Members = append(m.Members, row)
	}
	return m, nil
}

func (s *Server) membersPage(c echo.Context) error {
	m, err := s.membersModel(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.MembersPage(m))
}

func (s *Server) setMemberForm(c echo.Context) error {
	email, role := c.FormValue("email"), c.FormValue("role")
	if _, err := s.setMember(c, email, role); err != nil {
		status, _, msg := statusOf(err)
		if status >= 500 {
			return err
		}
		m, lerr := s.membersModel(c)
		if lerr != nil {
			return lerr
		}
		m.Email, m.Error = email, msg
		return render(c, status, views.MembersPage(m))
	}
	s.flash(c, email+" is now "+role+" of "+c.Param("app")+".")
	return c.Redirect(http.StatusSeeOther, appURL(c.Param("app"))+"/members")
}

func (s *Server) removeMemberForm(c echo.Context) error {
	if err := s.removeMember(c, c.Param("email")); err != nil {
		return err
	}
	s.flash(c, c.Param("email")+" no longer holds a role on "+c.Param("app")+".")
	return c.Redirect(http.StatusSeeOther, appURL(c.Param("app"))+"/members")
}
