package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// Roles a user can hold on an app, weakest first. Admins are owners of every
// app without holding a row.
const (
	RoleViewer   = "viewer"
	RoleDeployer = "deployer"
	RoleOwner    = "owner"
)

// AppMember gives a user a role on an app.
type AppMember struct {
	AppID     uint `gorm:"primaryKey;autoIncrement:false"`
	UserID    uint `gorm:"primaryKey;autoIncrement:false"`
	Role      string
	CreatedAt time.Time
}

// Member is a membership with the member's email, as lists show it.
type Member struct {
	UserID    uint
	Email     string
	Role      string
	CreatedAt time.Time
}

// MemberRole tells the role a user holds on an app, or ErrNotFound.
func (s *Store) MemberRole(ctx context.Context, appID, userID uint) (string, error) {
	var m AppMember
	err := s.db.WithContext(ctx).Where("app_id = ? AND user_id = ?", appID, userID).Take(&m).Error
	if err != nil {
		return "", notFound(err, "membership of user %d in app %d", userID, appID)
	}
	return m.Role, nil
}

// SetMember gives a user a role on an app, replacing the one it held.
func (s *Store) SetMember(ctx context.Context, appID, userID uint, role string) error {
	m := AppMember{AppID: appID, UserID: userID, Role: role, CreatedAt: time.Now().UTC()}
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "app_id"}, {Name: "user_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"role"}),
	}).Create(&m).Error
	if err != nil {
		return fmt.Errorf("make user %d %s of app %d: %w", userID, role, appID, err)
	}
	return nil
}

// RemoveMember takes a user's role on an app away; ErrNotFound if it held none.
func (s *Store) RemoveMember(ctx context.Context, appID, userID uint) error {
	res := s.db.WithContext(ctx).Where("app_id = ? AND user_id = ?", appID, userID).Delete(&AppMember{})
	if res.Error != nil {
		return fmt.Errorf("remove user %d from app %d: %w", userID, appID, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("remove user %d from app %d: %w", userID, appID, ErrNotFound)
	}
	return nil
}

// Members lists an app's members by email.
func (s *Store) Members(ctx context.Context, appID uint) ([]Member, error) {
	var ms []Member
	err := s.db.WithContext(ctx).Table("app_members").
		Select("app_members.user_id, users.email, app_members.role, app_members.created_at").
		Joins("JOIN users ON users.id = app_members.user_id").
		Where("app_members.app_id = ?", appID).Order("users.email").Scan(&ms).Error
	if err != nil {
		return nil, fmt.Errorf("list members of app %d: %w", appID, err)
	}
	return ms, nil
}

// MemberApps maps the ids of the apps a user is a member of to its role there.
func (s *Store) MemberApps(ctx context.Context, userID uint) (map[uint]string, error) {
	var ms []AppMember
	if err := s.db.WithContext(ctx).Where("user_id = ?", userID).Find(&ms).Error; err != nil {
		return nil, fmt.Errorf("list apps of user %d: %w", userID, err)
	}
	out := make(map[uint]string, len(ms))
	for _, m := range ms {
		out[m.AppID] = m.Role
	}
	return out, nil
}

// SetUserFlags sets whether a user is an admin and an approver.
func (s *Store) SetUserFlags(ctx context.Context, id uint, admin, approver bool) error {
	err := s.db.WithContext(ctx).Model(&User{}).Where("id = ?", id).
		Updates(map[string]any{"is_admin": admin, "is_approver": approver}).Error
	if err != nil {
		return fmt.Errorf("set roles of user %d: %w", id, err)
	}
	return nil
}

// UserSessions lists a user's signed-in browsers that have not expired,
// newest first.
func (s *Store) UserSessions(ctx context.Context, userID uint) ([]Session, error) {
	var ss []Session
	err := s.db.WithContext(ctx).Where("user_id = ? AND expires_at > ?", userID, time.Now().UTC()).
		Order("id DESC").Find(&ss).Error
	if err != nil {
		return nil, fmt.Errorf("list sessions of user %d: %w", userID, err)
	}
	return ss, nil
}

// DeleteUserSession signs one of a user's browsers out; ErrNotFound if the
// session is not the user's.
func (s *Store) DeleteUserSession(ctx context.Context, userID, id uint) error {
	res := s.db.WithContext(ctx).Where("id = ? AND user_id = ?", id, userID).Delete(&Session{})
	if res.Error != nil {
		return fmt.Errorf("delete session %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("delete session %d: %w", id, ErrNotFound)
	}
	return nil
}
