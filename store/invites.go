package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrInviteUsed is returned for an invite that signed someone up already.
var ErrInviteUsed = errors.New("invite already used")

// ErrInviteExpired is returned for an invite past its expiry.
var ErrInviteExpired = errors.New("invite expired")

// ErrInviteRevoked is returned for an invite an admin revoked.
var ErrInviteRevoked = errors.New("invite revoked")

// Invite is a one-time link that lets someone choose a password and become
// a user. Only the sha256 of the link's token is kept.
type Invite struct {
	ID         uint
	TokenHash  string `json:"-"`
	Email      string
	IsAdmin    bool
	IsApprover bool
	IsCreator  bool   // the user it signs up may create apps
	CreatedBy  string // the admin's email
	CreatedAt  time.Time
	ExpiresAt  time.Time
	UsedAt     *time.Time
	RevokedAt  *time.Time
	RevokedBy  string // the admin's email
}

// Pending tells whether the invite's link still works at now: unused, not
// revoked and not expired.
func (inv Invite) Pending(now time.Time) bool {
	return inv.UsedAt == nil && inv.RevokedAt == nil && inv.ExpiresAt.After(now)
}

// CreateInvite records an invite.
func (s *Store) CreateInvite(ctx context.Context, inv *Invite) error {
	if err := s.db.WithContext(ctx).Create(inv).Error; err != nil {
		return fmt.Errorf("create invite for %s: %w", inv.Email, err)
	}
	return nil
}

// InviteByTokenHash finds an invite, used or not.
func (s *Store) InviteByTokenHash(ctx context.Context, hash string) (Invite, error) {
	var inv Invite
	if err := s.db.WithContext(ctx).Where("token_hash = ?", hash).Take(&inv).Error; err != nil {
		return inv, notFound(err, "invite")
	}
	return inv, nil
}

// Invites lists invites, newest first, at most limit.
func (s *Store) Invites(ctx context.Context, limit int) ([]Invite, error) {
	var invs []Invite
	if err := s.db.WithContext(ctx).Order("id DESC").Limit(limit).Find(&invs).Error; err != nil {
		return nil, fmt.Errorf("list invites: %w", err)
	}
	return invs, nil
}

// PendingInvites lists the invites whose links still work at now (unused,
// not revoked, not expired), newest first.
func (s *Store) PendingInvites(ctx context.Context, now time.Time) ([]Invite, error) {
	var invs []Invite
	err := s.db.WithContext(ctx).Where("used_at IS NULL AND revoked_at IS NULL AND expires_at > ?", now.UTC()).
		Order("id DESC").Find(&invs).Error
	if err != nil {
		return nil, fmt.Errorf("list pending invites: %w", err)
	}
	return invs, nil
}

// RevokeInvite makes an unused invite's link stop working at once, noting
// who revoked it. It returns the invite as revoked, or ErrNotFound,
// ErrInviteUsed (someone signed up with it: revoking is too late) or
// ErrInviteRevoked (revoked before), each wrapped. An expired invite may be
// revoked; it changes nothing for its link but says so in the feed.
func (s *Store) RevokeInvite(ctx context.Context, id uint, by string, now time.Time) (Invite, error) {
	var inv Invite
	now = now.UTC()
	res := s.db.WithContext(ctx).Model(&Invite{}).Where("id = ? AND used_at IS NULL AND revoked_at IS NULL", id).
		Updates(map[string]any{"revoked_at": now, "revoked_by": by})
	if res.Error != nil {
		return inv, fmt.Errorf("revoke invite %d: %w", id, res.Error)
	}
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&inv).Error; err != nil {
		return inv, notFound(err, "invite %d", id)
	}
	if res.RowsAffected == 0 {
		if inv.UsedAt != nil {
			return inv, fmt.Errorf("invite %d for %s: %w", id, inv.Email, ErrInviteUsed)
		}
		return inv, fmt.Errorf("invite %d for %s: %w", id, inv.Email, ErrInviteRevoked)
	}
	return inv, nil
}

// AcceptInvite uses the invite with the token hash to create u, in one
// transaction: the invite is claimed only if it is unused and not expired
// at now and not revoked, so two browsers racing with one link make one
// user. It returns ErrNotFound, ErrInviteUsed, ErrInviteExpired,
// ErrInviteRevoked or ErrConflict (the email became a user meanwhile), each
// wrapped.
func (s *Store) AcceptInvite(ctx context.Context, hash string, now time.Time, u *User) (Invite, error) {
	var inv Invite
	tx := s.db.WithContext(ctx).Begin()
	if tx.Error != nil {
		return inv, fmt.Errorf("accept invite: %w", tx.Error)
	}
	fail := func(err error) (Invite, error) {
		tx.Rollback()
		return inv, err
	}
	if err := tx.Where("token_hash = ?", hash).Take(&inv).Error; err != nil {
		return fail(notFound(err, "invite"))
	}
	now = now.UTC()
	res := tx.Model(&Invite{}).Where("id = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?", inv.ID, now).Update("used_at", now)
	if res.Error != nil {
		return fail(fmt.Errorf("claim invite %d: %w", inv.ID, res.Error))
	}
	if res.RowsAffected == 0 {
		if inv.UsedAt != nil {
			return fail(fmt.Errorf("invite for %s: %w", inv.Email, ErrInviteUsed))
		}
		if inv.RevokedAt != nil {
			return fail(fmt.Errorf("invite for %s: %w", inv.Email, ErrInviteRevoked))
		}
		if !inv.ExpiresAt.After(now) {
			return fail(fmt.Errorf("invite for %s: %w", inv.Email, ErrInviteExpired))
		}
		return fail(fmt.Errorf("invite for %s: %w", inv.Email, ErrInviteUsed))
	}
	u.Email, u.IsAdmin, u.IsApprover, u.IsCreator = inv.Email, inv.IsAdmin, inv.IsApprover, inv.IsCreator
	if err := tx.Create(u).Error; err != nil {
		if isUniqueViolation(err) {
			return fail(fmt.Errorf("create user %s: %w", u.Email, ErrConflict))
		}
		return fail(fmt.Errorf("create user %s: %w", u.Email, err))
	}
	if err := tx.Commit().Error; err != nil {
		return inv, fmt.Errorf("accept invite for %s: %w", inv.Email, err)
	}
	inv.UsedAt = &now
	return inv, nil
}
