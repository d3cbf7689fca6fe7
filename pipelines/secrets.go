package pipelines

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/seedbed/seedbed/store"
)

// Sealer encrypts secrets at rest (stage secrets, forge tokens, deploy
// keys, webhook secrets) with AES-256-GCM. The key lives outside the database (a file in the
// data dir, or SEEDBED_SECRET_KEY), so a copy of the database alone reveals
// no secret.
//
// A Sealer is a key ring: it seals with its first key and opens with any of
// them, so a process can read values sealed under the key it replaces while
// `seedbed secrets rotate-key` runs. Every value names the key it was
// sealed under ("v2:KEYID:…"), so a value whose key a process lacks fails
// with an error that says which key it needs.
type Sealer struct {
	keys []sealKey // keys[0] seals
}

type sealKey struct {
	id   string
	aead cipher.AEAD
	raw  []byte // for DerivedKeys
}

// Sealed value formats. v1 (before key ids) is still opened, by trying each
// key of the ring; Seal writes v2 only.
const (
	sealedPrefixV1 = "v1:"
	sealedPrefixV2 = "v2:"
)

// NewSealer makes a Sealer from a 32-byte key that seals and opens, and
// older keys that only open.
func NewSealer(key []byte, older ...[]byte) (*Sealer, error) {
	s := &Sealer{}
	for _, k := range append([][]byte{key}, older...) {
		if len(k) != 32 {
			return nil, fmt.Errorf("secret key must be 32 bytes, not %d", len(k))
		}
		id := KeyID(k)
		if slices.ContainsFunc(s.keys, func(have sealKey) bool { return have.id == id }) {
			continue
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("secret key: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("secret key: %w", err)
		}
		s.keys = append(s.keys, sealKey{id: id, aead: aead, raw: slices.Clone(k)})
	}
	return s, nil
}

// KeyID names a key without revealing it: the first 8 hex digits of a
// hash of it. It is stored with every sealed value.
func KeyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("seedbed-secret-key-id:"), key...))
	return hex.EncodeToString(sum[:4])
}

// KeyID is the id of the key this Sealer seals with.
func (s *Sealer) KeyID() string { return s.keys[0].id }

// DerivedKeys returns a 32-byte key for purpose from each key of the
// ring, the sealing key's first: credentials every Seedbed process must
// agree on (queue send tokens) are made under the first and checked
// against all of them, so that they keep working while
// `seedbed secrets rotate-key` runs. A derived key reveals nothing of the
// sealing key (HMAC-SHA256 of the purpose under it), and keys of
// different purposes are unrelated.
func (s *Sealer) DerivedKeys(purpose string) [][]byte {
	out := make([][]byte, 0, len(s.keys))
	for _, k := range s.keys {
		mac := hmac.New(sha256.New, k.raw)
		mac.Write([]byte("seedbed-derived-key:" + purpose))
		out = append(out, mac.Sum(nil))
	}
	return out
}

// IsSealed tells a sealed value from a plain one. Plain values that need
// sealing (deploy keys and webhook secrets from before they were sealed:
// PEM text, base64url) never start like this.
func IsSealed(v string) bool {
	return strings.HasPrefix(v, sealedPrefixV2) || strings.HasPrefix(v, sealedPrefixV1)
}

// SealedKeyID is the id of the key a value was sealed under; "" for a
// value sealed before key ids (v1) or not sealed at all.
func SealedKeyID(v string) string {
	rest, ok := strings.CutPrefix(v, sealedPrefixV2)
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, ":")
	return id
}

// Seal encrypts a secret value. aad binds it to where it is kept (the stage
// and key, the app), so a sealed value copied elsewhere does not open.
func (s *Sealer) Seal(value, aad string) (string, error) {
	k := s.keys[0]
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal secret: %w", err)
	}
	out := k.aead.Seal(nonce, nonce, []byte(value), []byte(aad))
	return sealedPrefixV2 + k.id + ":" + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts a value made by Seal with the same aad, under any key of
// the ring.
func (s *Sealer) Open(sealed, aad string) (string, error) {
	var (
		raw        string
		candidates []sealKey
	)
	if rest, ok := strings.CutPrefix(sealed, sealedPrefixV2); ok {
		id, body, ok := strings.Cut(rest, ":")
		if !ok {
			return "", errors.New("open secret: damaged value")
		}
		i := slices.IndexFunc(s.keys, func(k sealKey) bool { return k.id == id })
		if i < 0 {
			return "", fmt.Errorf("open secret: it was sealed under key %s, but this process holds key %s: "+
				"if `seedbed secrets rotate-key` ran while this process was running, restart it; "+
				"otherwise SEEDBED_SECRET_KEY or data/secret.key is not the key this database was sealed with", id, s.KeyID())
		}
		raw, candidates = body, s.keys[i:i+1]
	} else if rest, ok := strings.CutPrefix(sealed, sealedPrefixV1); ok {
		raw, candidates = rest, s.keys
	} else {
		return "", errors.New("open secret: not a sealed value")
	}
	b, err := base64.RawStdEncoding.DecodeString(raw)
	if err != nil {
		return "", errors.New("open secret: damaged value")
	}
	for _, k := range candidates {
		n := k.aead.NonceSize()
		if len(b) < n {
			return "", errors.New("open secret: damaged value")
		}
		if plain, err := k.aead.Open(nil, b[:n], b[n:], []byte(aad)); err == nil {
			return string(plain), nil
		}
	}
	return "", errors.New("open secret: wrong key or damaged value (was SEEDBED_SECRET_KEY or data/secret.key changed?)")
}

// redact replaces a value by a short digest: change sets and history can
// tell that a value changed without keeping it.
func redact(value string) string {
	sum := sha256.Sum256([]byte("seedbed-env:" + value))
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// MinSecretLength is the shortest secret Seedbed accepts. A secret is only
// as hidden as its masking: a short value turns up by chance in ordinary
// output (masking it there shreds the log and tells a reader where the
// secret's characters occur), and a short value is guessed outright.
// GitLab asks the same 8 characters of a masked variable.
const MinSecretLength = 8

// maskFloor is the shortest text the masker hides: values from before
// MinSecretLength (stored secrets of 4 to 7 characters) are still masked,
// as before; masking "a" or "" would shred every line.
const maskFloor = 4

// maskText is what a secret turns into in a log.
const maskText = "••••••"

// ErrSecretTooShort is wrapped by the error that refuses a secret too
// short to be masked safely (an invalid-input Error): forms show it at
// the value.
var ErrSecretTooShort = errors.New("secret too short to mask")

// tooShort is an invalid-input Error that also wraps ErrSecretTooShort.
type tooShort struct{ err error }

func (e tooShort) Error() string   { return e.err.Error() }
func (e tooShort) Unwrap() []error { return []error{e.err, ErrSecretTooShort} }

// checkSecretValue refuses a secret that cannot be masked safely in logs.
func checkSecretValue(key, value string) error {
	trimmed := strings.TrimSpace(value)
	if n := len([]rune(trimmed)); n < MinSecretLength {
		return tooShort{invalidf("The secret %s is %d characters long; a secret needs at least %d, or it cannot be hidden in logs (a short value turns up in ordinary output and is easy to guess). "+
			"Use a longer value, or store it as a plain variable if it need not be hidden.", key, n, MinSecretLength)}
	}
	if strings.Contains(trimmed, "\n") {
		long := false
		for _, line := range strings.Split(trimmed, "\n") {
			if len([]rune(strings.TrimSpace(line))) >= MinSecretLength {
				long = true
				break
			}
		}
		if !long {
			return tooShort{invalidf("The secret %s has several lines, none of them %d characters long: logs show output line by line, so each line is masked on its own, and lines this short cannot be. "+
				"Put the value on one line, or use a longer value.", key, MinSecretLength)}
		}
	}
	return nil
}

// masker hides secret values in log text. It holds the texts to replace
// (needles): for each secret its value, each line of a multi-line value
// (logs are stored line by line, so a printed multi-line secret never
// appears whole in one line), and the forms a program commonly prints it
// in: JSON- or Go-quoted (newlines as \n) and base64. Lines of a
// multi-line secret shorter than maskFloor (a "{", a "}") are not
// hidden.
type masker struct {
	needles []string
	// weak names the secrets shorter than MinSecretLength, stored before
	// Seedbed refused them: logs warn about them.
	weak []string
}

// add returns the masker with the needles of one more secret value; name
// says which secret it is in warnings.
func (m masker) add(name, secret string) masker {
	m.needles = slices.Clone(m.needles)
	needle := func(s string) {
		if len([]rune(strings.TrimSpace(s))) >= maskFloor && !slices.Contains(m.needles, s) {
			m.needles = append(m.needles, s)
		}
	}
	needle(secret)
	if trimmed := strings.TrimSpace(secret); trimmed != secret {
		needle(trimmed)
	}
	for _, line := range strings.Split(secret, "\n") {
		if line = strings.TrimSpace(line); line != secret {
			needle(line)
		}
	}
	var js bytes.Buffer
	enc := json.NewEncoder(&js)
	enc.SetEscapeHTML(false)
	if enc.Encode(secret) == nil {
		needle(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(js.String(), "\n"), `"`), `"`))
	}
	needle(strings.TrimSuffix(strings.TrimPrefix(strconv.Quote(secret), `"`), `"`))
	// `echo $S | base64` and `base64 <<<$S` add a newline; the whole
	// 3-byte groups before it encode the same either way.
	if whole := len(secret) / 3 * 3; whole >= 6 {
		needle(base64.StdEncoding.EncodeToString([]byte(secret[:whole])))
	}
	if len([]rune(strings.TrimSpace(secret))) < MinSecretLength {
		m.weak = append(slices.Clone(m.weak), name)
	}
	m.sort()
	return m
}

// merge returns a masker that hides what m and o hide.
func (m masker) merge(o masker) masker {
	out := masker{needles: slices.Clone(m.needles), weak: append(slices.Clone(m.weak), o.weak...)}
	for _, n := range o.needles {
		if !slices.Contains(out.needles, n) {
			out.needles = append(out.needles, n)
		}
	}
	out.sort()
	return out
}

// sort puts the longest needles first, so that a secret that contains
// another is hidden whole.
func (m masker) sort() {
	slices.SortStableFunc(m.needles, func(a, b string) int { return len(b) - len(a) })
}

// warnings are the lines a log starts with when a secret is too short to
// be masked safely.
func (m masker) warnings() []string {
	var out []string
	for _, name := range m.weak {
		out = append(out, fmt.Sprintf("Warning: the secret %s is shorter than %d characters, so it cannot be hidden safely in logs (under %d characters it is not hidden at all). Set a longer value; Seedbed refuses new secrets this short.",
			name, MinSecretLength, maskFloor))
	}
	return out
}

// mask hides every needle in s, longest first.
func (m masker) mask(s string) string {
	for _, n := range m.needles {
		s = strings.ReplaceAll(s, n, maskText)
	}
	return s
}

// deployKeyAAD binds a sealed deploy key to its app. Apps cannot be
// renamed, and the name is known before the app has an id.
func deployKeyAAD(appName string) string { return "deploy-key:app:" + appName }

// webhookSecretAAD binds a sealed webhook secret to its app, as
// deployKeyAAD does a deploy key.
func webhookSecretAAD(appName string) string { return "webhook-secret:app:" + appName }

// sealForApp seals a secret of an app (what names it in errors: "the
// deploy key") before it is stored; "" stays "".
func (s *Service) sealForApp(what, appName, value, aad string) (string, error) {
	if value == "" {
		return "", nil
	}
	if s.cfg.Sealer == nil {
		return "", fmt.Errorf("save %s of %s: no secret key configured", what, appName)
	}
	sealed, err := s.cfg.Sealer.Seal(value, aad)
	if err != nil {
		return "", fmt.Errorf("save %s of %s: %w", what, appName, err)
	}
	return sealed, nil
}

// openForApp opens a sealed secret of an app; "" stays "". A value stored
// in clear by an older Seedbed (sealed by SealStoredInClear at the next
// start) is used as it is.
func (s *Service) openForApp(what, appName, value, aad string) (string, error) {
	if value == "" || !IsSealed(value) {
		return value, nil
	}
	if s.cfg.Sealer == nil {
		return "", fmt.Errorf("app %s has %s but no secret key is configured", appName, what)
	}
	plain, err := s.cfg.Sealer.Open(value, aad)
	if err != nil {
		return "", fmt.Errorf("%s of app %s: %w", what, appName, err)
	}
	return plain, nil
}

// sealDeployKey seals an app's deploy key before it is stored.
func (s *Service) sealDeployKey(appName, key string) (string, error) {
	return s.sealForApp("the deploy key", appName, key, deployKeyAAD(appName))
}

// deployKey opens an app's deploy key for git; "" when it has none.
func (s *Service) deployKey(app store.App) (string, error) {
	return s.openForApp("a deploy key", app.Name, app.DeployKey, deployKeyAAD(app.Name))
}

// WebhookSecret opens the secret that verifies an app's webhook
// deliveries, for checking a delivery's signature and for showing it to
// the app's owners. An error (a value sealed under a key this process
// lacks, say) says which key is needed: it is the server's fault, never
// the sender's.
func (s *Service) WebhookSecret(app store.App) (string, error) {
	return s.openForApp("a webhook secret", app.Name, app.WebhookSecret, webhookSecretAAD(app.Name))
}

// AlertChannelAAD binds a sealed value of an alert channel (kind is
// store.SealedAlertTarget or store.SealedAlertSecret) to its app and
// channel: the alerts package seals with it, rotations re-seal with it.
func AlertChannelAAD(appID, channelID uint, kind string) string {
	return fmt.Sprintf("alert-channel:app:%d:channel:%d:%s", appID, channelID, kind)
}

// SecretStore is what sealing in bulk needs from the database (a
// *store.Store).
type SecretStore interface {
	ResealSecrets(ctx context.Context, kinds []string, fn func(store.SealedValue) (string, error)) (int, error)
}

// aadOf is what a stored sealed value is bound to.
func aadOf(v store.SealedValue) string {
	switch v.Kind {
	case store.SealedStageSecret:
		return secretAAD(v.StageID, v.Key)
	case store.SealedForgeToken:
		return tokenAAD(v.AppID)
	case store.SealedDeployKey:
		return deployKeyAAD(v.AppName)
	case store.SealedWebhookSecret:
		return webhookSecretAAD(v.AppName)
	case store.SealedAlertTarget, store.SealedAlertSecret:
		return AlertChannelAAD(v.AppID, v.ChannelID, v.Kind)
	case store.SealedTLSKey:
		return TLSKeyAAD(v.Key)
	}
	return "unknown-kind:" + v.Kind // opens nothing
}

// sealedLater lists the kinds of sealed values an older Seedbed stored in
// clear: SealStoredInClear seals them, and a rotation seals them too.
// Plain values of these kinds never look sealed: a deploy key and a TLS
// private key start with "-----BEGIN", a webhook secret is base64url (no
// ':').
func sealedLater() []string {
	return []string{store.SealedDeployKey, store.SealedWebhookSecret, store.SealedTLSKey}
}

// TLSKeyAAD binds a sealed private key of the certificate storage to its
// key, so that one cannot be moved to stand for another; the same as
// domains.KeyAAD, which seals them.
func TLSKeyAAD(key string) string { return "tls-key:" + key }

// SealStoredInClear seals the deploy keys and webhook secrets an older
// Seedbed stored in clear. Sealed values are left alone, so every start
// runs it. Two processes starting at once do not seal one value twice:
// the store rewrites a value only if it is still the one read, and the
// one that lost the race looks again and finds the value sealed. It
// returns how many values it sealed.
func SealStoredInClear(ctx context.Context, st SecretStore, sealer *Sealer) (int, error) {
	var err error
	for try := 0; try < 3; try++ {
		var n int
		n, err = st.ResealSecrets(ctx, sealedLater(), func(v store.SealedValue) (string, error) {
			if IsSealed(v.Value) {
				return v.Value, nil
			}
			return sealer.Seal(v.Value, aadOf(v))
		})
		if err == nil {
			return n, nil
		}
		if !errors.Is(err, store.ErrChangedMeanwhile) {
			break
		}
	}
	return 0, fmt.Errorf("seal deploy keys, webhook secrets and TLS private keys stored in clear: %w", err)
}

// Rotation is what RotateSecrets did.
type Rotation struct {
	Values   int // sealed values in the database, all now under the new key
	Resealed int // of which were sealed again now (the rest were already under it)
}

// RotateSecrets seals every secret in the database (stage secrets, forge
// tokens, deploy keys, webhook secrets; those last two still in clear too)
// again under to's key, in one transaction: if any value cannot be opened
// with from (the key ring of the current key, and the new key when an
// interrupted rotation runs again), or check refuses one, nothing is
// changed. Values already under the new key are checked and kept, so
// running it again after a crash is safe.
func RotateSecrets(ctx context.Context, st SecretStore, from, to *Sealer, check func(store.SealedValue) error) (Rotation, error) {
	var r Rotation
	n, err := st.ResealSecrets(ctx, nil, func(v store.SealedValue) (string, error) {
		r.Values++
		plain := v.Value
		if IsSealed(v.Value) {
			var err error
			if plain, err = from.Open(v.Value, aadOf(v)); err != nil {
				return "", fmt.Errorf("%s: %w", v.Where(), err)
			}
		} else if !slices.Contains(sealedLater(), v.Kind) {
			return "", fmt.Errorf("%s is not sealed: the database is damaged or was written by hand", v.Where())
		}
		if check != nil {
			if err := check(v); err != nil {
				return "", err
			}
		}
		if IsSealed(v.Value) && SealedKeyID(v.Value) == to.KeyID() {
			return v.Value, nil
		}
		return to.Seal(plain, aadOf(v))
	})
	if err != nil {
		return Rotation{}, err
	}
	r.Resealed = n
	return r, nil
}

// OpenSecrets opens every sealed value in the database with s and changes
// nothing: what opened, by where it is kept (store.SealedValue.Where), and
// what did not, with why. For checks and tests: never log the values.
func OpenSecrets(ctx context.Context, st SecretStore, s *Sealer) (opened map[string]string, failed map[string]error, err error) {
	opened, failed = map[string]string{}, map[string]error{}
	_, err = st.ResealSecrets(ctx, nil, func(v store.SealedValue) (string, error) {
		if !IsSealed(v.Value) {
			failed[v.Where()] = errors.New("stored in clear")
			return v.Value, nil
		}
		plain, err := s.Open(v.Value, aadOf(v))
		if err != nil {
			failed[v.Where()] = err
		} else {
			opened[v.Where()] = plain
		}
		return v.Value, nil
	})
	if err != nil {
		return nil, nil, err
	}
	return opened, failed, nil
}
