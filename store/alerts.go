package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Alert channel kinds.
const (
	ChannelSlack   = "slack"   // a Slack-compatible incoming webhook
	ChannelEmail   = "email"   // email over the server's SMTP settings
	ChannelWebhook = "webhook" // a generic webhook, signed like GitHub's
)

// AlertChannel is where an app's notifications go.
type AlertChannel struct {
	ID    uint
	AppID uint
	Name  string
	Kind  string
	// Target is the URL of a slack or webhook channel, sealed by the
	// alerts package (a URL with a token in it is a credential), or the
	// comma-separated addresses of an email channel, in clear.
	Target string `json:"-"`
	// Hint is what the console shows of Target: the host and the last
	// characters of a URL, the addresses of an email channel.
	Hint string
	// Secret signs a webhook channel's deliveries; sealed.
	Secret    string `json:"-"`
	CreatedBy string
	CreatedAt time.Time
}

// Alert rule kinds.
const (
	RuleBuildFailed      = "build_failed"
	RuleDeployFailed     = "deploy_failed"
	RuleApprovalAwaiting = "approval_awaiting"
	RuleErrorRate        = "error_rate"  // Threshold: percent of requests
	RuleLatencyP95       = "latency_p95" // Threshold: milliseconds
	RuleCrashLoop        = "crash_loop"  // Threshold: crashes
)

// AlertRule says which event or condition of an app (one stage, or every
// stage when Stage is empty) notifies which channel. The evaluator keeps
// its state: Firing since FiringSince, LastValue measured.
type AlertRule struct {
	ID        uint
	AppID     uint
	ChannelID uint
	Name      string
	Kind      string
	Stage     string
	Function  string // "service/name"; empty: every function
	Threshold float64
	// WindowSeconds is how far back a metric or crash rule looks.
	WindowSeconds int
	Firing        bool
	// FiringStage is the stage the rule fires for ("" when it is about no
	// one stage, such as a build); the pipeline board shows it there.
	FiringStage     string
	FiringSince     *time.Time
	LastValue       float64
	LastFiredAt     *time.Time
	LastEvaluatedAt *time.Time
	CreatedBy       string
	CreatedAt       time.Time
}

// Alert delivery statuses.
const (
	AlertPending   = "pending"   // recorded, not tried yet
	AlertRetrying  = "retrying"  // tried, failed, tried again later
	AlertDelivered = "delivered" // the receiver took it
	AlertFailed    = "failed"    // every attempt failed, or it cannot succeed
)

// AlertDelivery is one notification to one channel, with its attempts.
type AlertDelivery struct {
	ID         uint
	AppID      uint
	ChannelID  uint
	RuleID     *uint  // nil for a test notification
	DeliveryID string // sent as X-Seedbed-Delivery
	Event      string // build_failed, ..., test
	// EventKey names the event; one channel is notified of one key once.
	// Empty for test notifications.
	EventKey      string
	Stage         string
	Title         string
	URL           string // the console page that explains it
	Payload       string // JSON of the event, owned by the alerts package
	Status        string
	Attempts      int
	ResponseCode  int
	Error         string
	CreatedAt     time.Time
	LastAttemptAt *time.Time
	DeliveredAt   *time.Time
}

// Finished reports whether the delivery will not be tried again.
func (d AlertDelivery) Finished() bool { return d.Status == AlertDelivered || d.Status == AlertFailed }

// AlertChannels lists an app's channels by name.
func (s *Store) AlertChannels(ctx context.Context, appID uint) ([]AlertChannel, error) {
	var cs []AlertChannel
	if err := s.db.WithContext(ctx).Where("app_id = ?", appID).Order("name").Find(&cs).Error; err != nil {
		return nil, fmt.Errorf("list alert channels of app %d: %w", appID, err)
	}
	return cs, nil
}

// AlertChannelByName finds a channel of an app.
func (s *Store) AlertChannelByName(ctx context.Context, appID uint, name string) (AlertChannel, error) {
	var c AlertChannel
	if err := s.db.WithContext(ctx).Where("app_id = ? AND name = ?", appID, name).Take(&c).Error; err != nil {
		return c, notFound(err, "alert channel %q", name)
	}
	return c, nil
}

// AlertChannelByID finds a channel.
func (s *Store) AlertChannelByID(ctx context.Context, id uint) (AlertChannel, error) {
	var c AlertChannel
	if err := s.db.WithContext(ctx).Take(&c, id).Error; err != nil {
		return c, notFound(err, "alert channel %d", id)
	}
	return c, nil
}

// CreateAlertChannel stores a new channel; ErrConflict if the app has one
// of that name.
func (s *Store) CreateAlertChannel(ctx context.Context, c *AlertChannel) error {
	if err := s.db.WithContext(ctx).Create(c).Error; err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("alert channel %q: %w", c.Name, ErrConflict)
		}
		return fmt.Errorf("create alert channel %q: %w", c.Name, err)
	}
	return nil
}

// SaveAlertChannelTarget rewrites a channel's sealed values (the alerts
// package seals a channel's target with its id, known only once created).
func (s *Store) SaveAlertChannelTarget(ctx context.Context, id uint, target, secret string) error {
	err := s.db.WithContext(ctx).Model(&AlertChannel{}).Where("id = ?", id).
		Updates(map[string]any{"target": target, "secret": secret}).Error
	if err != nil {
		return fmt.Errorf("save alert channel %d: %w", id, err)
	}
	return nil
}

// ErrInUse is wrapped when something cannot be removed while other
// records name it.
var ErrInUse = errors.New("in use")

// DeleteAlertChannel removes a channel and its deliveries; it refuses
// (ErrInUse, naming them) while rules send to it.
func (s *Store) DeleteAlertChannel(ctx context.Context, c AlertChannel) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var names []string
		if err := tx.Model(&AlertRule{}).Where("channel_id = ?", c.ID).Order("name").Pluck("name", &names).Error; err != nil {
			return fmt.Errorf("delete alert channel %q: %w", c.Name, err)
		}
		if len(names) > 0 {
			return fmt.Errorf("alert channel %q is used by rules %q: %w", c.Name, names, ErrInUse)
		}
		if err := tx.Where("channel_id = ?", c.ID).Delete(&AlertDelivery{}).Error; err != nil {
			return fmt.Errorf("delete deliveries of alert channel %q: %w", c.Name, err)
		}
		if err := tx.Delete(&AlertChannel{}, c.ID).Error; err != nil {
			return fmt.Errorf("delete alert channel %q: %w", c.Name, err)
		}
		return nil
	})
}

// AlertRules lists an app's rules by name.
func (s *Store) AlertRules(ctx context.Context, appID uint) ([]AlertRule, error) {
	var rs []AlertRule
	if err := s.db.WithContext(ctx).Where("app_id = ?", appID).Order("name").Find(&rs).Error; err != nil {
		return nil, fmt.Errorf("list alert rules of app %d: %w", appID, err)
	}
	return rs, nil
}

// AllAlertRules lists every app's rules of the given kinds, for the
// evaluator.
func (s *Store) AllAlertRules(ctx context.Context, kinds ...string) ([]AlertRule, error) {
	var rs []AlertRule
	if err := s.db.WithContext(ctx).Where("kind IN ?", kinds).Order("id").Find(&rs).Error; err != nil {
		return nil, fmt.Errorf("list alert rules: %w", err)
	}
	return rs, nil
}

// FiringRules lists, per stage name, the names of an app's rules that
// fire for that stage ("" for those about no one stage).
func (s *Store) FiringRules(ctx context.Context, appID uint) (map[string][]string, error) {
	var rs []AlertRule
	if err := s.db.WithContext(ctx).Select("name", "firing_stage").Where("app_id = ? AND firing = ?", appID, true).Order("name").Find(&rs).Error; err != nil {
		return nil, fmt.Errorf("list firing alert rules of app %d: %w", appID, err)
	}
	out := map[string][]string{}
	for _, r := range rs {
		out[r.FiringStage] = append(out[r.FiringStage], r.Name)
	}
	return out, nil
}

// AlertRuleByName finds a rule of an app.
func (s *Store) AlertRuleByName(ctx context.Context, appID uint, name string) (AlertRule, error) {
	var r AlertRule
	if err := s.db.WithContext(ctx).Where("app_id = ? AND name = ?", appID, name).Take(&r).Error; err != nil {
		return r, notFound(err, "alert rule %q", name)
	}
	return r, nil
}

// CreateAlertRule stores a new rule; ErrConflict if the app has one of
// that name.
func (s *Store) CreateAlertRule(ctx context.Context, r *AlertRule) error {
	if err := s.db.WithContext(ctx).Create(r).Error; err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("alert rule %q: %w", r.Name, ErrConflict)
		}
		return fmt.Errorf("create alert rule %q: %w", r.Name, err)
	}
	return nil
}

// DeleteAlertRule removes a rule; its deliveries stay in the list.
func (s *Store) DeleteAlertRule(ctx context.Context, id uint) error {
	if err := s.db.WithContext(ctx).Delete(&AlertRule{}, id).Error; err != nil {
		return fmt.Errorf("delete alert rule %d: %w", id, err)
	}
	return nil
}

// SetAlertRuleFiring moves a rule to firing for stage (since at) or to
// resolved, and tells whether this call changed it: of two processes that
// see the same condition, one gets true and notifies. value is what was
// measured.
func (s *Store) SetAlertRuleFiring(ctx context.Context, id uint, firing bool, stage string, value float64, at time.Time) (bool, error) {
	upd := map[string]any{"firing": firing, "last_value": value, "last_evaluated_at": at}
	if firing {
		upd["firing_since"] = at
		upd["last_fired_at"] = at
		upd["firing_stage"] = stage
	} else {
		upd["firing_since"] = nil
		upd["firing_stage"] = ""
	}
	res := s.db.WithContext(ctx).Model(&AlertRule{}).Where("id = ? AND firing = ?", id, !firing).Updates(upd)
	if res.Error != nil {
		return false, fmt.Errorf("set alert rule %d firing=%t: %w", id, firing, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// NoteAlertRuleValue records what a rule measured, its state unchanged;
// a firing rule's stage becomes stage.
func (s *Store) NoteAlertRuleValue(ctx context.Context, id uint, value float64, stage string, at time.Time) error {
	db := s.db.WithContext(ctx).Model(&AlertRule{})
	err := db.Where("id = ?", id).Updates(map[string]any{"last_value": value, "last_evaluated_at": at}).Error
	if err == nil {
		err = s.db.WithContext(ctx).Model(&AlertRule{}).Where("id = ? AND firing = ?", id, true).Update("firing_stage", stage).Error
	}
	if err != nil {
		return fmt.Errorf("note value of alert rule %d: %w", id, err)
	}
	return nil
}

// CreateAlertDelivery records a notification before it is sent; a
// delivery of the same event key to the same channel gives ErrConflict.
func (s *Store) CreateAlertDelivery(ctx context.Context, d *AlertDelivery) error {
	if err := s.db.WithContext(ctx).Create(d).Error; err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("notification %s to channel %d: %w", d.EventKey, d.ChannelID, ErrConflict)
		}
		return fmt.Errorf("record notification %s: %w", d.Event, err)
	}
	return nil
}

// AlertDeliveryByID finds a delivery.
func (s *Store) AlertDeliveryByID(ctx context.Context, id uint) (AlertDelivery, error) {
	var d AlertDelivery
	if err := s.db.WithContext(ctx).Take(&d, id).Error; err != nil {
		return d, notFound(err, "notification %d", id)
	}
	return d, nil
}

// SaveAlertDelivery writes every field of a recorded delivery.
func (s *Store) SaveAlertDelivery(ctx context.Context, d *AlertDelivery) error {
	if err := s.db.WithContext(ctx).Save(d).Error; err != nil {
		return fmt.Errorf("save notification %d: %w", d.ID, err)
	}
	return nil
}

// AlertDeliveries lists an app's notifications, newest first.
func (s *Store) AlertDeliveries(ctx context.Context, appID uint, limit int) ([]AlertDelivery, error) {
	var ds []AlertDelivery
	if err := s.db.WithContext(ctx).Where("app_id = ?", appID).Order("id DESC").Limit(limit).Find(&ds).Error; err != nil {
		return nil, fmt.Errorf("list notifications of app %d: %w", appID, err)
	}
	return ds, nil
}

// UnfinishedAlertDeliveries lists notifications not yet delivered or given
// up, for queueing again after a crash or the loss of the queue.
func (s *Store) UnfinishedAlertDeliveries(ctx context.Context) ([]AlertDelivery, error) {
	var ds []AlertDelivery
	if err := s.db.WithContext(ctx).Where("status IN ?", []string{AlertPending, AlertRetrying}).Order("id").Find(&ds).Error; err != nil {
		return nil, fmt.Errorf("list unfinished notifications: %w", err)
	}
	return ds, nil
}

// LatestAlertDelivery finds the newest delivery of event to a channel;
// ErrNotFound if there is none.
func (s *Store) LatestAlertDelivery(ctx context.Context, channelID uint, event string) (AlertDelivery, error) {
	var d AlertDelivery
	if err := s.db.WithContext(ctx).Where("channel_id = ? AND event = ?", channelID, event).Order("id DESC").Take(&d).Error; err != nil {
		return d, notFound(err, "%s notification to channel %d", event, channelID)
	}
	return d, nil
}

// PruneAlertDeliveries deletes every app's finished notifications but its
// newest keepPerApp, and tells how many went.
func (s *Store) PruneAlertDeliveries(ctx context.Context, keepPerApp int) (int64, error) {
	var apps []uint
	if err := s.db.WithContext(ctx).Model(&AlertDelivery{}).Distinct("app_id").Pluck("app_id", &apps).Error; err != nil {
		return 0, fmt.Errorf("prune notifications: %w", err)
	}
	var total int64
	for _, app := range apps {
		var cutoff []uint
		err := s.db.WithContext(ctx).Model(&AlertDelivery{}).Where("app_id = ?", app).Order("id DESC").
			Offset(keepPerApp).Limit(1).Pluck("id", &cutoff).Error
		if err != nil {
			return total, fmt.Errorf("prune notifications of app %d: %w", app, err)
		}
		if len(cutoff) == 0 {
			continue
		}
		res := s.db.WithContext(ctx).Where("app_id = ? AND id <= ? AND status IN ?", app, cutoff[0], []string{AlertDelivered, AlertFailed}).Delete(&AlertDelivery{})
		if res.Error != nil {
			return total, fmt.Errorf("prune notifications of app %d: %w", app, res.Error)
		}
		total += res.RowsAffected
	}
	return total, nil
}
