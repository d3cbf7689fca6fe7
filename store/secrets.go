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
	Value     string
}

// Where names a sealed value for people: "deploy key of app shop".
func (v SealedValue) Where() string {
	if v.Kind == SealedStageSecret {
		return fmt.Sprintf("secret %s of stage %s of app %s", v.Key, v.StageName, v.AppName)
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
