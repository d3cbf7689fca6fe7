package web

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/targets"
	"github.com/seedbed/seedbed/web/apiv1"
)

// QueueTokens makes the credentials that let a sender put messages on a
// stage's queues (an *events.SendTokens): deployers read them for senders
// outside the stage's functions, which get them in their environment.
type QueueTokens interface {
	QueueToken(ref targets.StageRef) string
	SQSCredentials(ref targets.StageRef) (accessKeyID, secret string)
}

// apiQueueCredentials answers a stage's queue send token and where to
// send with it. Deployers only (web/authz.go): the token lets its bearer
// put messages on every queue of the stage, as `seedbed queues send` does.
func (s *Server) apiQueueCredentials(c echo.Context) error {
	if s.cfg.QueueTokens == nil {
		return errNoEvents
	}
	app, st, err := s.stageParam(c)
	if err != nil {
		return err
	}
	ref := targets.StageRef{App: app.Name, Stage: st.Name}
	stageURL := s.cfg.GatewayURL + "/" + url.PathEscape(ref.App) + "/" + url.PathEscape(ref.Stage)
	id, secret := s.cfg.QueueTokens.SQSCredentials(ref)
	return c.JSON(http.StatusOK, apiv1.QueueCredentials{
		Token:              s.cfg.QueueTokens.QueueToken(ref),
		SendURL:            stageURL + "/_seedbed/queues/",
		SQSEndpoint:        stageURL + "/_seedbed/sqs",
		SQSAccessKeyID:     id,
		SQSSecretAccessKey: secret,
	})
}
