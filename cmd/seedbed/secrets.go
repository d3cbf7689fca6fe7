package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/seedbed/seedbed/domains"
	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
)

// Key files in the data dir. secret.key is the key everything is sealed
// with; secret.key.new exists only while `seedbed secrets rotate-key`
// runs, or after it was interrupted: it holds the next key, written before
// the database changes, so no crash leaves a value sealed under a key that
// exists nowhere.
const (
	keyFile    = "secret.key"
	newKeyFile = "secret.key.new"
)

const rotateUsage = `seedbed secrets rotate-key [flags]

Seals every secret in the database (stage secrets, forge tokens, deploy
keys, webhook secrets, TLS private keys) again under a new key, in one
transaction, then the certificates kept in the bucket of --artifact-store
if there is one, and then makes the new key the one Seedbed uses. Run it
on the machine with the data dir, with the same --data-dir /
--database-url / --artifact-store as serve.

Stop serve and every worker first, and start them again afterwards: a
running process keeps the old key in memory, cannot open what is sealed
under the new one, and would seal what it writes meanwhile under the old
key, which is gone afterwards.

With the key in data/secret.key: the new key is written to
data/secret.key.new first, the database is re-sealed, then the new key
replaces data/secret.key. If it is interrupted, nothing is lost (serve opens
values under either key while secret.key.new exists): run it again and it
finishes with the same new key.

With SEEDBED_SECRET_KEY: give the new key in SEEDBED_NEW_SECRET_KEY (64 hex
characters, e.g. from: openssl rand -hex 32) after storing it wherever
SEEDBED_SECRET_KEY comes from; or leave it out and the new key is made,
kept in data/secret.key.new and printed. Then set SEEDBED_SECRET_KEY to the
new key for every process.`

// rotateOptions are the parts of a rotation that do not come from Config.
type rotateOptions struct {
	// newKey is the new key in hex; empty: the one an interrupted
	// rotation left in secret.key.new, else a new random key.
	newKey string
	// check is called for each value before it is re-sealed; an error
	// aborts the rotation (tests use it to fail the transaction).
	check func(store.SealedValue) error
}

// rotateKey re-seals every secret under a new key; see rotateUsage for the
// order of steps that makes it safe to interrupt.
func rotateKey(ctx context.Context, cfg Config, opt rotateOptions, stdout io.Writer) error {
	fromEnv := cfg.SecretKey != ""
	oldKey, err := currentKey(cfg)
	if err != nil {
		return err
	}
	newPath := filepath.Join(cfg.DataDir, newKeyFile)
	var newKey []byte
	if opt.newKey != "" {
		if newKey, err = parseKey(opt.newKey); err != nil {
			return fmt.Errorf("SEEDBED_NEW_SECRET_KEY: %w", err)
		}
	}
	left, err := readKeyFile(newPath)
	switch {
	case err == nil && newKey != nil && hex.EncodeToString(left) != hex.EncodeToString(newKey):
		return fmt.Errorf("%s holds the new key of a rotation that was interrupted, and SEEDBED_NEW_SECRET_KEY is another key: "+
			"run again without SEEDBED_NEW_SECRET_KEY to finish that rotation (nothing is lost either way)", newPath)
	case err == nil:
		newKey = left
		fmt.Fprintf(stdout, "Finishing the rotation to key %s that was interrupted (%s).\n", pipelines.KeyID(newKey), newPath)
	case !errors.Is(err, os.ErrNotExist):
		return err
	case newKey == nil || !fromEnv:
		// Keep the new key on disk before the database depends on it.
		if newKey == nil {
			newKey = make([]byte, 32)
			if _, err := rand.Read(newKey); err != nil {
				return fmt.Errorf("make a new secret key: %w", err)
			}
		}
		if err := writeKeyFileAtomic(newPath, newKey); err != nil {
			return err
		}
	}
	if pipelines.KeyID(newKey) == pipelines.KeyID(oldKey) {
		if opt.newKey != "" {
			return errors.New("SEEDBED_NEW_SECRET_KEY is the current key; give a new one (openssl rand -hex 32)")
		}
		return fmt.Errorf("%s holds the current key: the last rotation is complete. Delete that file, then run again to rotate once more", newPath)
	}
	from, err := pipelines.NewSealer(oldKey, newKey)
	if err != nil {
		return err
	}
	to, err := pipelines.NewSealer(newKey)
	if err != nil {
		return err
	}

	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	r, err := pipelines.RotateSecrets(ctx, st, from, to, opt.check)
	if err != nil {
		return fmt.Errorf("%w\nThe database still holds every secret as before; the current key still opens them. Run `seedbed secrets rotate-key` again once the cause is fixed.", err)
	}
	fmt.Fprintf(stdout, "Re-sealed %d secrets under key %s (%d were under it already); key %s opens none of them now.\n",
		r.Values, to.KeyID(), r.Values-r.Resealed, pipelines.KeyID(oldKey))
	if err := resealBucketCertificates(ctx, cfg, st, from, to, stdout); err != nil {
		return fmt.Errorf("%w\nThe database is re-sealed; values sealed under either key open until the rotation completes. Run `seedbed secrets rotate-key` again once the cause is fixed.", err)
	}

	if fromEnv {
		if _, err := os.Stat(newPath); err == nil {
			fmt.Fprintf(stdout, "\nSet SEEDBED_SECRET_KEY=%s for serve and every worker (it is also in %s: delete that file once it is set), then start them.\n",
				hex.EncodeToString(newKey), newPath)
		} else {
			fmt.Fprintf(stdout, "\nSet SEEDBED_SECRET_KEY to the value of SEEDBED_NEW_SECRET_KEY for serve and every worker, then start them.\n")
		}
		return nil
	}
	// The switch: one rename, atomic on every file system the data dir
	// may be on. Until it happens, serve opens values under either key.
	path := filepath.Join(cfg.DataDir, keyFile)
	if err := os.Rename(newPath, path); err != nil {
		return fmt.Errorf("make the new key the current one: %w (the database is sealed under it already: run `seedbed secrets rotate-key` again)", err)
	}
	if err := syncDir(cfg.DataDir); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s now holds key %s. Start serve and the workers again; every process that shares this database needs this file (or SEEDBED_SECRET_KEY set to it).\n", path, to.KeyID())
	return nil
}

// resealBucketCertificates re-seals the certificates kept in the bucket of
// --artifact-store, where every value is sealed (domains.NewBucketStorage):
// not in the database's transaction, so before the new key becomes the
// current one, and again by a rotation run anew after an interruption.
func resealBucketCertificates(ctx context.Context, cfg Config, locks domains.Locks, from, to *pipelines.Sealer, stdout io.Writer) error {
	if cfg.ArtifactStore == "" {
		return nil
	}
	arts, err := openArtifacts(ctx, cfg)
	if err != nil {
		return err
	}
	certs, err := domains.NewBucketStorage(certificateObjects(arts), locks, from)
	if err != nil {
		return err
	}
	n, err := certs.Reseal(ctx, to)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Re-sealed %d certificate values in %s under key %s.\n", n, certs, to.KeyID())
	return nil
}

// currentKey is the key everything is sealed with now: SEEDBED_SECRET_KEY
// or data/secret.key. Unlike serve, it never makes one.
func currentKey(cfg Config) ([]byte, error) {
	if cfg.SecretKey != "" {
		key, err := parseKey(cfg.SecretKey)
		if err != nil {
			return nil, fmt.Errorf("SEEDBED_SECRET_KEY: %w", err)
		}
		return key, nil
	}
	path := filepath.Join(cfg.DataDir, keyFile)
	key, err := readKeyFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("there is no %s: give --data-dir (SEEDBED_DATA_DIR) as serve has it, or set SEEDBED_SECRET_KEY if serve gets its key from there", path)
	}
	return key, err
}

// loadKeyRing is the Sealer serve uses: the current key seals; a key an
// interrupted rotation left in data/secret.key.new also opens, so values
// already re-sealed under it are not lost before the rotation is run
// again. pending says whether there is such a key.
func loadKeyRing(cfg Config, current []byte) (s *pipelines.Sealer, pending bool, err error) {
	next, err := readKeyFile(filepath.Join(cfg.DataDir, newKeyFile))
	if errors.Is(err, os.ErrNotExist) {
		s, err = pipelines.NewSealer(current)
		return s, false, err
	}
	if err != nil {
		return nil, false, err
	}
	s, err = pipelines.NewSealer(current, next)
	return s, true, err
}

func parseKey(h string) ([]byte, error) {
	key, err := hex.DecodeString(strings.TrimSpace(h))
	if err != nil || len(key) != 32 {
		return nil, errors.New("a secret key is 64 hex characters (32 bytes); make one with: openssl rand -hex 32")
	}
	return key, nil
}

// readKeyFile reads a key file; a missing file's error wraps
// os.ErrNotExist.
func readKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("read secret key %s: %w", path, err)
	}
	key, err := parseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("secret key %s is damaged: %w", path, err)
	}
	return key, nil
}

// writeKeyFileAtomic writes a key file that is either whole or absent,
// and on disk before it returns.
func writeKeyFileAtomic(path string, key []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".secret.key-*")
	if err != nil {
		return fmt.Errorf("write secret key %s: %w", path, err)
	}
	defer os.Remove(f.Name()) //nolint:errcheck // gone after the rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write secret key %s: %w", path, err)
	}
	_, err = f.WriteString(hex.EncodeToString(key) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write secret key %s: %w", path, err)
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
