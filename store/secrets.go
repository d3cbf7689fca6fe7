package store

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"
)

// Kinds of sealed values (see SealedValue).
const (
	SealedStageSecret   = "stage secret"   // stage_vars.value of a secret
	SealedForgeToken    = "forge token"    // apps.forge_token
	SealedDeployKey     = "deploy key"     // apps.deploy_key
	SealedWebhookSecret = "webhook secret" // apps.webhook_secret
	// SealedAlertTarget and SealedAlertSecret: the URL and the signing
	// secret of an app's alert channel (alert_channels.target of slack
	// and webhook channels, alert_channels.secret).
	SealedAlertTarget = "alert channel URL"
	SealedAlertSecret = "alert channel secret"
)

// SealedValue is one value the pipelines package seals, with what its
// sealing is bound to (its place: app, stage, key).
type SealedValue struct {
	Kind    string
	AppID   uint
	AppName string
	// StageID, StageName and Key: stage secrets only.
	StageID   uint
	StageName string
	Key       string
	// ChannelID and ChannelName: alert channels only.
	ChannelID   uint
	ChannelName string
	Value       string
}

// Where names a sealed value for people: "deploy key of app shop".
func (v SealedValue) Where() string {
	if v.Kind == SealedStageSecret {
		return fmt.Sprintf("secret %s of stage %s of app %s", v.Key, v.StageName, v.AppName)
	}
	if v.ChannelName != "" {
		return fmt.Sprintf("%s %s of app %s", v.Kind, v.ChannelName, v.AppName)
	}
	return fmt.Sprintf("%s of app %s", v.Kind, v.AppName)
}

// ErrChangedMeanwhile is wrapped when a value changed between reading and
// rewriting it in ResealSecrets: another process wrote it.
var ErrChangedMeanwhile = errors.New("changed while it was being re-sealed")

// ResealSecrets calls fn for every non-empty value of the given kinds (all
// kinds if none are given) and writes back what fn returns where it
// differs, all in one transaction: either every value is rewritten or none
// is. An error from fn rolls everything back and is returned. A value that
// another process changed meanwhile fails the whole transaction with
// ErrChangedMeanwhile (nothing written over a value this call did not
// read). It returns how many values it rewrote.
func (s *Store) ResealSecrets(ctx context.Context, kinds []string, fn func(SealedValue) (string, error)) (int, error) {
	want := func(kind string) bool {
		if len(kinds) == 0 {
			return true
		}
		for _, k := range kinds {
			if k == kind {
				return true
			}
		}
		return false
	}
	changed := 0
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		changed = 0
		var apps []App
		if err := tx.Select("id", "name", "forge_token", "deploy_key", "webhook_secret").Order("id").Find(&apps).Error; err != nil {
			return fmt.Errorf("list apps: %w", err)
		}
		names := map[uint]string{}
		for _, a := range apps {
			names[a.ID] = a.Name
			for _, c := range []struct{ kind, column, value string }{
				{SealedForgeToken, "forge_token", a.ForgeToken},
				{SealedDeployKey, "deploy_key", a.DeployKey},
				{SealedWebhookSecret, "webhook_secret", a.WebhookSecret},
			} {
				if c.value == "" || !want(c.kind) {
					continue
				}
				v := SealedValue{Kind: c.kind, AppID: a.ID, AppName: a.Name, Value: c.value}
				out, err := fn(v)
				if err != nil {
					return err
				}
				if out == c.value {
					continue
				}
				res := tx.Model(&App{}).Where("id = ? AND "+c.column+" = ?", a.ID, c.value).Update(c.column, out)
				if res.Error != nil {
					return fmt.Errorf("rewrite %s: %w", v.Where(), res.Error)
				}
				if res.RowsAffected != 1 {
					return fmt.Errorf("%s: %w", v.Where(), ErrChangedMeanwhile)
				}
				changed++
			}
		}
		n, aerr := resealAlertChannels(tx, names, want, fn)
		changed += n
		if aerr != nil {
			return aerr
		}
		if !want(SealedStageSecret) {
			return nil
		}
		type row struct {
			ID        uint
			StageID   uint
			StageName string
			AppID     uint
			Key       string
			Value     string
		}
		var rows []row
		err := tx.Table("stage_vars").Select("stage_vars.id, stage_vars.stage_id, stages.name AS stage_name, stages.app_id, stage_vars.key, stage_vars.value").
			Joins("JOIN stages ON stages.id = stage_vars.stage_id").Where("stage_vars.secret = ?", true).
			Order("stage_vars.id").Scan(&rows).Error
		if err != nil {
			return fmt.Errorf("list stage secrets: %w", err)
		}
		for _, r := range rows {
			v := SealedValue{Kind: SealedStageSecret, AppID: r.AppID, AppName: names[r.AppID], StageID: r.StageID, StageName: r.StageName, Key: r.Key, Value: r.Value}
			out, err := fn(v)
			if err != nil {
				return err
			}
			if out == r.Value {
				continue
			}
			res := tx.Model(&StageVar{}).Where("id = ? AND value = ?", r.ID, r.Value).Update("value", out)
			if res.Error != nil {
				return fmt.Errorf("rewrite %s: %w", v.Where(), res.Error)
			}
			if res.RowsAffected != 1 {
				return fmt.Errorf("%s: %w", v.Where(), ErrChangedMeanwhile)
			}
			changed++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("re-seal secrets (nothing was changed): %w", err)
	}
	return changed, nil
}

// resealAlertChannels is ResealSecrets for the URLs and secrets of alert
// channels. An email channel's target is addresses, never sealed.
func resealAlertChannels(tx *gorm.DB, appNames map[uint]string, want func(string) bool, fn func(SealedValue) (string, error)) (int, error) {
	if !want(SealedAlertTarget) && !want(SealedAlertSecret) {
		return 0, nil
	}
	var chans []AlertChannel
	if err := tx.Select("id", "app_id", "name", "kind", "target", "secret").Order("id").Find(&chans).Error; err != nil {
		return 0, fmt.Errorf("list alert channels: %w", err)
	}
	changed := 0
	for _, ch := range chans {
		for _, c := range []struct{ kind, column, value string }{
			{SealedAlertTarget, "target", ch.Target},
			{SealedAlertSecret, "secret", ch.Secret},
		} {
			if c.value == "" || !want(c.kind) || (c.kind == SealedAlertTarget && ch.Kind == ChannelEmail) {
				continue
			}
			v := SealedValue{Kind: c.kind, AppID: ch.AppID, AppName: appNames[ch.AppID], ChannelID: ch.ID, ChannelName: ch.Name, Value: c.value}
			out, err := fn(v)
			if err != nil {
				return changed, err
			}
			if out == c.value {
				continue
			}
			res := tx.Model(&AlertChannel{}).Where("id = ? AND "+c.column+" = ?", ch.ID, c.value).Update(c.column, out)
			if res.Error != nil {
				return changed, fmt.Errorf("rewrite %s: %w", v.Where(), res.Error)
			}
			if res.RowsAffected != 1 {
				return changed, fmt.Errorf("%s: %w", v.Where(), ErrChangedMeanwhile)
			}
			changed++
		}
	}
	return changed, nil
}
