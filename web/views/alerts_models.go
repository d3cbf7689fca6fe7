package views

import (
	"strconv"
	"time"
)

// AlertsModel is an app's Alerts page: its rules (with whether each fires),
// its channels and the latest notifications with their attempts. Owners
// (CanEdit) get the forms; everyone else reads.
type AlertsModel struct {
	Page    Page
	App     string
	AppURL  string
	CanEdit bool
	// Error is the problem with the last form sent; NewSecret the signing
	// secret of a webhook channel just made, shown this once.
	Error      string
	NewSecret  string
	NewChannel string
	Channels   []AlertChannelRow
	Rules      []AlertRuleRow
	Deliveries []AlertDeliveryRow
	// For the forms: the stages and rule kinds to choose from, and what
	// was typed when the form comes back with an error.
	Stages       []string
	Kinds        []AlertKindOption
	ChannelForm  AlertChannelForm
	RuleForm     AlertRuleForm
	ChannelsURL  string // POST: a new channel
	RulesURL     string // POST: a new rule
	MetricsReady bool   // error-rate and p95 rules are evaluated here
}

// AlertChannelRow is one channel.
type AlertChannelRow struct {
	Name      string
	Kind      string
	Hint      string // host and last characters of a URL; addresses
	TestURL   string // POST: send a test notification
	DeleteURL string // POST: delete
}

// AlertRuleRow is one rule.
type AlertRuleRow struct {
	Name        string
	What        string // "a deploy failed", "the error rate is above 5 % over 5m"
	Stage       string // "" for every stage
	Function    string
	Channel     string
	Firing      bool
	FiringStage string
	Since       time.Time
	LastValue   string // what was last measured, for measured rules
	DeleteURL   string
}

// AlertDeliveryRow is one notification.
type AlertDeliveryRow struct {
	At         time.Time
	DeliveryID string
	Channel    string
	Rule       string
	Event      string
	Title      string
	URL        string // the console page it links to
	Status     string
	Attempts   int
	Code       int
	Error      string
}

// AlertKindOption is a rule kind in the form.
type AlertKindOption struct {
	Kind, What, Unit string
}

// AlertChannelForm is what was typed into the channel form.
type AlertChannelForm struct {
	Name, Kind, URL, Addresses string
}

// AlertRuleForm is what was typed into the rule form.
type AlertRuleForm struct {
	Name, Kind, Stage, Function, Channel, Threshold, Window string
}

func intStr(n int) string { return strconv.Itoa(n) }

// deliveryClass colours a notification's status as the build statuses are:
// delivered green, failed red, retrying blue, pending grey.
func deliveryClass(status string) string {
	return statusClass(map[string]string{"delivered": "succeeded", "failed": "failed", "retrying": "running", "pending": "queued"}[status])
}
