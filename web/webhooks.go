package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/pipelines/forge"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/web/apiv1"
)

// DeliveryStore records webhook deliveries.
type DeliveryStore interface {
	RecordDelivery(ctx context.Context, d *store.WebhookDelivery) error
	DeliveryByPushKey(ctx context.Context, appID uint, key string) (store.WebhookDelivery, error)
	SaveDelivery(ctx context.Context, d *store.WebhookDelivery) error
	Deliveries(ctx context.Context, appID uint, limit int) ([]store.WebhookDelivery, error)
}

// throttle counts failed deliveries per address; past a limit an address
// is refused for a while, so a misconfigured or hostile sender cannot make
// Seedbed verify signatures all day.
type throttle struct {
	mu       sync.Mutex
	failures map[string][]time.Time
	limit    int
	window   time.Duration
}

// newThrottle refuses a key after limit failures within window.
func newThrottle(limit int, window time.Duration) *throttle {
	return &throttle{failures: map[string][]time.Time{}, limit: limit, window: window}
}

func (t *throttle) recent(addr string, now time.Time) []time.Time {
	kept := t.failures[addr][:0]
	for _, at := range t.failures[addr] {
		if now.Sub(at) < t.window {
			kept = append(kept, at)
		}
	}
	if len(kept) == 0 {
		delete(t.failures, addr)
		return nil
	}
	t.failures[addr] = kept
	return kept
}

// blocked reports whether addr failed too often lately.
func (t *throttle) blocked(addr string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.recent(addr, time.Now())) >= t.limit
}

func (t *throttle) fail(addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	t.failures[addr] = append(t.recent(addr, now), now)
}

// reset forgets the failures of key, e.g. after a successful sign-in.
func (t *throttle) reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.failures, key)
}

// webhookAnswer is the body of every answer to a forge.
type webhookAnswer struct {
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
	Builds  []uint `json:"builds,omitempty"`
}

// webhook takes a delivery from a forge: verified with the app's secret,
// refused when forged, malformed, too large or replayed, recorded with its
// outcome, and turned into builds for the stages that follow the ref.
func (s *Server) webhook(c echo.Context) error {
	ctx := c.Request().Context()
	addr := c.RealIP()
	if s.throttle.blocked(addr) {
		return errorf(http.StatusTooManyRequests, "throttled", "Too many failed deliveries from this address; try again in a few minutes.")
	}
	kind, err := forge.ParseKind(c.Param("forge"))
	if err != nil {
		return errorf(http.StatusNotFound, "not_found", err.Error())
	}
	app, err := s.cfg.Store.AppByName(ctx, c.Param("app"))
	if err != nil {
		s.throttle.fail(addr)
		return errorf(http.StatusNotFound, "not_found", fmt.Sprintf("No app named %q.", c.Param("app")))
	}
	header := c.Request().Header
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, forge.MaxBody+1))
	if err != nil {
		return errorf(http.StatusBadRequest, "invalid", "The request body could not be read.")
	}
	rec := store.WebhookDelivery{AppID: app.ID, Forge: string(kind), DeliveryID: forge.DeliveryID(kind, header), RemoteAddr: addr}
	secret, err := s.cfg.Pipelines.WebhookSecret(app)
	if err != nil {
		// The server's fault (its secret key), not the sender's: no
		// signature check ran, so neither "signature mismatch" nor a
		// throttled address.
		s.log.Error("webhook delivery cannot be verified: the app's webhook secret does not open with this server's secret key",
			"app", app.Name, "forge", kind, "err", err)
		rec.Outcome, rec.Reason = store.DeliveryRejected, "Seedbed could not open the app's webhook secret (a problem with the server's secret key; see its log)"
		if err := s.cfg.Deliveries.RecordDelivery(ctx, &rec); err != nil {
			s.log.Error("record rejected delivery", "app", app.Name, "err", err)
		}
		return errorf(http.StatusInternalServerError, "internal", "Seedbed cannot open this app's webhook secret; the server's operator must check its secret key (see the server log).")
	}
	events, err := forge.ParseAll(kind, secret, header, body)
	if err != nil {
		status := http.StatusBadRequest
		switch {
		case errors.Is(err, forge.ErrUnsupported):
			rec.Outcome, rec.Reason = store.DeliveryIgnored, err.Error()
			if rec.DeliveryID == "" {
				rec.DeliveryID = "unknown-" + strconv.FormatInt(time.Now().UnixNano(), 36)
			}
			if err := s.recordNew(ctx, &rec); err != nil {
				return err
			}
			return c.JSON(http.StatusAccepted, webhookAnswer{Outcome: rec.Outcome, Reason: rec.Reason})
		case errors.Is(err, forge.ErrSignature):
			status = http.StatusUnauthorized
		case errors.Is(err, forge.ErrTooLarge):
			status = http.StatusRequestEntityTooLarge
		}
		s.throttle.fail(addr)
		rec.Outcome, rec.Reason = store.DeliveryRejected, err.Error()
		if err := s.cfg.Deliveries.RecordDelivery(ctx, &rec); err != nil {
			s.log.Error("record rejected delivery", "app", app.Name, "err", err)
		}
		return errorf(status, "rejected", err.Error())
	}
	answer := webhookAnswer{Outcome: store.DeliveryIgnored}
	var reasons []string
	duplicates := 0
	for i, ev := range events {
		rec := rec
		rec.ID = 0
		rec.Event, rec.Summary = string(ev.Type), ev.Summary()
		if i > 0 { // a Bitbucket push may carry several refs under one id
			rec.DeliveryID = fmt.Sprintf("%s#%d", ev.DeliveryID, i)
		}
		rec.Outcome = store.DeliveryIgnored
		// The delivery takes the push it reports (ref, before, after)
		// before acting on it, so the same push delivered again, even
		// under a new delivery id and at the same moment, builds once.
		rec.PushKey = ev.PushKey()
		taken, err := s.takePush(ctx, &rec)
		if err != nil {
			return err
		}
		if taken != "" {
			duplicates++
			reasons = append(reasons, taken)
			continue
		}
		res, err := s.act(ctx, app.Name, ev)
		if err != nil {
			rec.Outcome, rec.Reason, rec.PushKey = store.DeliveryRejected, pipelines.ErrorMessage(err), ""
			_ = s.cfg.Deliveries.SaveDelivery(ctx, &rec)
			return err
		}
		if res.Build != nil {
			rec.Outcome, rec.Reason = store.DeliveryAccepted, "deploys to "+strings.Join(res.Stages, ", ")
			rec.BuildIDs = strconv.FormatUint(uint64(res.Build.ID), 10)
			answer.Outcome = store.DeliveryAccepted
			answer.Builds = append(answer.Builds, res.Build.ID)
		} else if res.Done != "" {
			rec.Outcome, rec.Reason, rec.PushKey = store.DeliveryAccepted, res.Done, ""
			answer.Outcome = store.DeliveryAccepted
		} else {
			rec.Reason = res.Ignored
			rec.PushKey = "" // nothing started: a later delivery of the push may act on it
		}
		reasons = append(reasons, rec.Reason)
		if err := s.cfg.Deliveries.SaveDelivery(ctx, &rec); err != nil {
			return err
		}
	}
	answer.Reason = strings.Join(reasons, "; ")
	status := http.StatusAccepted
	switch {
	case len(answer.Builds) > 0:
		status = http.StatusCreated
	case answer.Outcome == store.DeliveryAccepted:
		status = http.StatusOK // acted on, nothing created (a preview stopped)
	case duplicates == len(events):
		answer.Outcome, status = store.DeliveryDuplicate, http.StatusOK
	}
	return c.JSON(status, answer)
}

// takePush records a delivery that holds rec.PushKey, if it has one. When
// another delivery of the app holds the key already, it records rec as a
// duplicate instead and returns the reason to answer with; a delivery id
// seen before is refused as a replay, as by recordNew.
func (s *Server) takePush(ctx context.Context, rec *store.WebhookDelivery) (string, error) {
	err := s.recordNew(ctx, rec)
	if rec.PushKey == "" || err == nil {
		return "", err
	}
	var he *httpError
	if !errors.As(err, &he) || he.status != http.StatusConflict {
		return "", err
	}
	first, lookErr := s.cfg.Deliveries.DeliveryByPushKey(ctx, rec.AppID, rec.PushKey)
	if errors.Is(lookErr, store.ErrNotFound) {
		s.recordReplay(ctx, *rec, he.message) // the conflict was the delivery id: a replay
		return "", err
	}
	if lookErr != nil {
		return "", lookErr
	}
	taken := fmt.Sprintf("This push (%s) was already taken by delivery %s", rec.PushKey, first.DeliveryID)
	if first.BuildIDs != "" {
		taken += ", which started build #" + strings.ReplaceAll(first.BuildIDs, ",", ", #")
	}
	taken += "; nothing was built again."
	rec.ID, rec.PushKey = 0, ""
	rec.Outcome, rec.Reason = store.DeliveryDuplicate, taken
	if err := s.recordNew(ctx, rec); err != nil {
		return "", err
	}
	return taken, nil
}

// recordNew stores a delivery, refusing one whose id was seen before.
func (s *Server) recordNew(ctx context.Context, rec *store.WebhookDelivery) error {
	if rec.DeliveryID == "" {
		return errorf(http.StatusBadRequest, "invalid", "The delivery has no id header; Seedbed needs one to refuse replays.")
	}
	if err := s.cfg.Deliveries.RecordDelivery(ctx, rec); err != nil {
		if errors.Is(err, store.ErrConflict) {
			msg := fmt.Sprintf("Delivery %s was received already; nothing was done again.", rec.DeliveryID)
			if rec.PushKey == "" {
				// Only the delivery id can have clashed. With a push key
				// takePush tells a replay from a duplicate push.
				s.recordReplay(ctx, *rec, msg)
			}
			return errorf(http.StatusConflict, "replayed", msg)
		}
		return err
	}
	return nil
}

// recordReplay records a refused replay as a rejected delivery, as every
// refused delivery is, so the deliveries list shows it. Rejected rows are
// not held to the one-row-per-delivery-id rule; a replay counts as a failed
// delivery of its address, as a forged one does, and the rows are capped by
// retention (store/retention.go), so replays cannot fill the database.
func (s *Server) recordReplay(ctx context.Context, rec store.WebhookDelivery, reason string) {
	s.throttle.fail(rec.RemoteAddr)
	rec.ID, rec.PushKey, rec.BuildIDs = 0, "", ""
	rec.Outcome, rec.Reason = store.DeliveryRejected, reason
	if err := s.cfg.Deliveries.RecordDelivery(ctx, &rec); err != nil {
		s.log.Error("record replayed delivery", "app", rec.AppID, "delivery", rec.DeliveryID, "err", err)
	}
}

// act turns one verified event into builds.
func (s *Server) act(ctx context.Context, app string, ev forge.Event) (pipelines.PushResult, error) {
	switch ev.Type {
	case forge.Ping:
		return pipelines.PushResult{Ignored: "ping received: the webhook works"}, nil
	case forge.PullRequest:
		return s.cfg.Pipelines.HandlePullRequest(ctx, app, ev)
	}
	commit := ev.HeadCommit.SHA
	if commit == "" {
		commit = ev.After
	}
	return s.cfg.Pipelines.HandlePush(ctx, app, pipelines.Push{Branch: ev.Branch, Tag: ev.Tag, Commit: commit,
		Message: ev.HeadCommit.Message, Deleted: ev.Deleted, Trigger: pipelines.TriggerWebhook, By: ev.Sender})
}

// hookURLs are the payload URLs to give each forge.
func (s *Server) hookURLs(app string) map[string]string {
	out := map[string]string{}
	for _, k := range forge.Kinds() {
		out[string(k)] = s.cfg.PublicURL + "/hooks/" + string(k) + "/" + app
	}
	return out
}

func (s *Server) apiWebhooks(c echo.Context) error {
	app, err := s.appParam(c)
	if err != nil {
		return err
	}
	ds, err := s.cfg.Deliveries.Deliveries(c.Request().Context(), app.ID, 50)
	if err != nil {
		return err
	}
	secret, err := s.cfg.Pipelines.WebhookSecret(app)
	if err != nil {
		return err
	}
	out := apiv1.Webhooks{Secret: secret, URLs: s.hookURLs(app.Name), Deliveries: []apiv1.Delivery{}}
	for _, d := range ds {
		out.Deliveries = append(out.Deliveries, apiv1.Delivery{ID: d.ID, Forge: d.Forge, DeliveryID: d.DeliveryID, Event: d.Event,
			Outcome: d.Outcome, Reason: d.Reason, Summary: d.Summary, RemoteAddr: d.RemoteAddr, Builds: d.BuildIDs, Time: d.CreatedAt})
	}
	return c.JSON(http.StatusOK, out)
}
