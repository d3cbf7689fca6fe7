package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Domain certificate states.
const (
	DomainPending = "pending" // no certificate yet; being obtained or waiting for DNS
	DomainIssued  = "issued"  // a certificate is served; CertExpiresAt says until when
	DomainFailed  = "failed"  // the last try to obtain one failed; LastError says why
)

// Domain DNS states: whether the name resolves to this server.
const (
	DNSUnknown   = "unknown"   // not checked yet, or this server knows no address of its own
	DNSOK        = "ok"        // resolves to one of this server's public addresses
	DNSElsewhere = "elsewhere" // resolves, but to other addresses (DNSAddrs)
	DNSMissing   = "missing"   // does not resolve
)

// Domain is a host name a stage answers on, with the state of its
// certificate. A name belongs to one stage only.
type Domain struct {
	ID      uint
	Name    string // lower case, IDNs as punycode
	AppID   uint
	StageID uint
	Status  string
	// DNSStatus is what the last look-up of Name found, DNSAddrs the
	// addresses it resolved to (comma-separated).
	DNSStatus     string     `gorm:"column:dns_status"`
	DNSAddrs      string     `gorm:"column:dns_addrs"`
	DNSCheckedAt  *time.Time `gorm:"column:dns_checked_at"`
	CertIssuedAt  *time.Time
	CertExpiresAt *time.Time
	LastError     string
	LastErrorAt   *time.Time
	CreatedBy     string
	CreatedAt     time.Time
}

// DomainRoute is where a domain's requests go.
type DomainRoute struct {
	Domain string
	App    string
	Stage  string
}

// CreateDomain registers a domain on a stage; a name already registered
// (on any stage) is ErrConflict.
func (s *Store) CreateDomain(ctx context.Context, d *Domain) error {
	if d.Status == "" {
		d.Status = DomainPending
	}
	if d.DNSStatus == "" {
		d.DNSStatus = DNSUnknown
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = time.Now().UTC()
	}
	if err := s.db.WithContext(ctx).Create(d).Error; err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("add domain %s: %w", d.Name, ErrConflict)
		}
		return fmt.Errorf("add domain %s: %w", d.Name, err)
	}
	return nil
}

// DeleteDomain removes a domain of an app.
func (s *Store) DeleteDomain(ctx context.Context, appID uint, name string) error {
	res := s.db.WithContext(ctx).Where("app_id = ? AND name = ?", appID, name).Delete(&Domain{})
	if res.Error != nil {
		return fmt.Errorf("remove domain %s: %w", name, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("domain %s: %w", name, ErrNotFound)
	}
	return nil
}

// DomainByName finds a domain by its name.
func (s *Store) DomainByName(ctx context.Context, name string) (Domain, error) {
	var d Domain
	err := s.db.WithContext(ctx).Where("name = ?", name).Take(&d).Error
	if err != nil {
		return d, notFound(err, "domain %s", name)
	}
	return d, nil
}

// AppDomains lists an app's domains by name.
func (s *Store) AppDomains(ctx context.Context, appID uint) ([]Domain, error) {
	var ds []Domain
	if err := s.db.WithContext(ctx).Where("app_id = ?", appID).Order("name").Find(&ds).Error; err != nil {
		return nil, fmt.Errorf("list domains of app %d: %w", appID, err)
	}
	return ds, nil
}

// Domains lists every domain by name.
func (s *Store) Domains(ctx context.Context) ([]Domain, error) {
	var ds []Domain
	if err := s.db.WithContext(ctx).Order("name").Find(&ds).Error; err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	return ds, nil
}

// DomainRouteByName tells the app and stage a domain belongs to.
func (s *Store) DomainRouteByName(ctx context.Context, name string) (DomainRoute, error) {
	var r DomainRoute
	err := s.db.WithContext(ctx).Table("domains").
		Select("domains.name AS domain, apps.name AS app, stages.name AS stage").
		Joins("JOIN apps ON apps.id = domains.app_id").
		Joins("JOIN stages ON stages.id = domains.stage_id").
		Where("domains.name = ?", name).Take(&r).Error
	if err != nil {
		return r, notFound(err, "domain %s", name)
	}
	return r, nil
}

// DomainCert is what became of a domain's certificate.
type DomainCert struct {
	Status    string
	IssuedAt  *time.Time
	ExpiresAt *time.Time
	// Error is the reason the last try failed; empty clears it.
	Error string
}

// SetDomainCert records the state of a domain's certificate.
func (s *Store) SetDomainCert(ctx context.Context, name string, c DomainCert) error {
	upd := map[string]any{"status": c.Status}
	if c.IssuedAt != nil {
		upd["cert_issued_at"] = c.IssuedAt.UTC()
		upd["cert_expires_at"] = c.ExpiresAt.UTC()
	}
	if c.Error != "" {
		upd["last_error"] = c.Error
		upd["last_error_at"] = time.Now().UTC()
	} else if c.Status == DomainIssued {
		upd["last_error"] = ""
		upd["last_error_at"] = gorm.Expr("NULL")
	}
	if err := s.db.WithContext(ctx).Model(&Domain{}).Where("name = ?", name).Updates(upd).Error; err != nil {
		return fmt.Errorf("record the certificate of domain %s: %w", name, err)
	}
	return nil
}

// SetDomainDNS records what a look-up of a domain found.
func (s *Store) SetDomainDNS(ctx context.Context, name, status, addrs string) error {
	err := s.db.WithContext(ctx).Model(&Domain{}).Where("name = ?", name).Updates(map[string]any{
		"dns_status": status, "dns_addrs": addrs, "dns_checked_at": time.Now().UTC(),
	}).Error
	if err != nil {
		return fmt.Errorf("record the DNS of domain %s: %w", name, err)
	}
	return nil
}
