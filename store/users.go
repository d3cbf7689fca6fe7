package store

import (
	"context"
	"fmt"
	"time"
)

// CreateUser adds a user; an email already taken gives ErrConflict.
func (s *Store) CreateUser(ctx context.Context, u *User) error {
	if err := s.db.WithContext(ctx).Create(u).Error; err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("create user %s: %w", u.Email, ErrConflict)
		}
		return fmt.Errorf("create user %s: %w", u.Email, err)
	}
	return nil
}

// UpdateUserPassword replaces a user's password hash.
func (s *Store) UpdateUserPassword(ctx context.Context, id uint, hash string) error {
	if err := s.db.WithContext(ctx).Model(&User{}).Where("id = ?", id).Update("password_hash", hash).Error; err != nil {
		return fmt.Errorf("update password of user %d: %w", id, err)
	}
	return nil
}

// UserByEmail finds a user by email.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	var u User
	err := s.db.WithContext(ctx).Where("email = ?", email).Take(&u).Error
	if err != nil {
		return u, notFound(err, "user %s", email)
	}
	return u, nil
}

// UserByID finds a user by id.
func (s *Store) UserByID(ctx context.Context, id uint) (User, error) {
	var u User
	if err := s.db.WithContext(ctx).Take(&u, id).Error; err != nil {
		return u, notFound(err, "user %d", id)
	}
	return u, nil
}

// SetUserCreator marks whether a user may create apps.
func (s *Store) SetUserCreator(ctx context.Context, id uint, creator bool) error {
	if err := s.db.WithContext(ctx).Model(&User{}).Where("id = ?", id).Update("is_creator", creator).Error; err != nil {
		return fmt.Errorf("set creator of user %d: %w", id, err)
	}
	return nil
}

// Users lists every user by email.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	var us []User
	if err := s.db.WithContext(ctx).Order("email").Find(&us).Error; err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

// CountUsers tells how many users exist.
func (s *Store) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.WithContext(ctx).Model(&User{}).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// CreateAPIToken records a token.
func (s *Store) CreateAPIToken(ctx context.Context, t *APIToken) error {
	if err := s.db.WithContext(ctx).Create(t).Error; err != nil {
		return fmt.Errorf("create token %q: %w", t.Name, err)
	}
	return nil
}

// UserByTokenHash finds the user behind a token that is not revoked, and
// marks the token used.
func (s *Store) UserByTokenHash(ctx context.Context, hash string) (User, APIToken, error) {
	var t APIToken
	err := s.db.WithContext(ctx).Where("hash = ? AND revoked_at IS NULL", hash).Take(&t).Error
	if err != nil {
		return User{}, t, notFound(err, "api token")
	}
	now := time.Now().UTC()
	// Only touch last_used_at once a minute so reads do not all become writes.
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) > time.Minute {
		if err := s.db.WithContext(ctx).Model(&APIToken{}).Where("id = ?", t.ID).Update("last_used_at", now).Error; err != nil {
			return User{}, t, fmt.Errorf("mark token used: %w", err)
		}
	}
	u, err := s.UserByID(ctx, t.UserID)
	return u, t, err
}

// RevokeAPIToken stops a token working at once.
func (s *Store) RevokeAPIToken(ctx context.Context, userID, tokenID uint) error {
	res := s.db.WithContext(ctx).Model(&APIToken{}).
		Where("id = ? AND user_id = ? AND revoked_at IS NULL", tokenID, userID).
		Update("revoked_at", time.Now().UTC())
	if res.Error != nil {
		return fmt.Errorf("revoke token %d: %w", tokenID, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("revoke token %d: %w", tokenID, ErrNotFound)
	}
	return nil
}

// APITokens lists a user's tokens, newest first.
func (s *Store) APITokens(ctx context.Context, userID uint) ([]APIToken, error) {
	var ts []APIToken
	if err := s.db.WithContext(ctx).Where("user_id = ?", userID).Order("id DESC").Find(&ts).Error; err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return ts, nil
}

// CreateSession records a signed-in browser.
func (s *Store) CreateSession(ctx context.Context, sess *Session) error {
	if err := s.db.WithContext(ctx).Create(sess).Error; err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// SessionByTokenHash finds a session that has not expired.
func (s *Store) SessionByTokenHash(ctx context.Context, hash string) (Session, error) {
	var sess Session
	err := s.db.WithContext(ctx).Where("token_hash = ? AND expires_at > ?", hash, time.Now().UTC()).Take(&sess).Error
	if err != nil {
		return sess, notFound(err, "session")
	}
	return sess, nil
}

// SessionUser finds a session that has not expired together with its user,
// in one query: every console request asks.
func (s *Store) SessionUser(ctx context.Context, hash string) (User, Session, error) {
	var (
		u    User
		sess Session
	)
	rows, err := s.db.WithContext(ctx).Raw(`
		SELECT s.id, s.token_hash, s.user_id, s.csrf_token, s.user_agent, s.created_at, s.expires_at,
		       u.id, u.email, u.password_hash, u.is_admin, u.is_approver, u.is_creator, u.created_at
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.token_hash = ? AND s.expires_at > ?`, hash, time.Now().UTC()).Rows()
	if err != nil {
		return u, sess, fmt.Errorf("session: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return u, sess, fmt.Errorf("session: %w", err)
		}
		return u, sess, fmt.Errorf("session: %w", ErrNotFound)
	}
	var sid, suid, uid int64 // database/sql converts to uint through strings
	if err := rows.Scan(&sid, &sess.TokenHash, &suid, &sess.CSRFToken, &sess.UserAgent, &sess.CreatedAt, &sess.ExpiresAt,
		&uid, &u.Email, &u.PasswordHash, &u.IsAdmin, &u.IsApprover, &u.IsCreator, &u.CreatedAt); err != nil {
		return User{}, Session{}, fmt.Errorf("session: %w", err)
	}
	sess.ID, sess.UserID, u.ID = uint(sid), uint(suid), uint(uid)
	return u, sess, nil
}

// DeleteSession signs a browser out.
func (s *Store) DeleteSession(ctx context.Context, id uint) error {
	if err := s.db.WithContext(ctx).Delete(&Session{}, id).Error; err != nil {
		return fmt.Errorf("delete session %d: %w", id, err)
	}
	return nil
}
