package builders

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/seedbed/seedbed/builders/buildcache"
	"github.com/seedbed/seedbed/stack"
)

// SharedCaches keeps builds' toolchain caches where Seedbed's other
// machines find them (buildcache.Store, on the artifact bucket), so that
// an app's first build on a new worker is not a cold one. Errors never
// fail a build: the builder logs them and builds on.
type SharedCaches interface {
	// Restore brings the snapshot of key into dir, the local cache
	// folder, unless it is there already; what it adds is owner's.
	Restore(ctx context.Context, key buildcache.Key, dir string, owner *buildcache.Owner, log buildcache.Log) error
	// Save writes dir back as the snapshot of key, unless it did not
	// change.
	Save(ctx context.Context, key buildcache.Key, dir string, log buildcache.Log) error
}

// sharedCache is one local cache folder a build shares.
type sharedCache struct {
	key buildcache.Key
	dir string
	env []string // a service's environment naming the folder's caches
}

// sharedCaches lists the cache folders of the build opts describes that
// are shared: those of its go and node services, when the build has a
// cache key and the caches are the per-app folders Seedbed chose in
// CacheDir (a GOCACHE of the configuration's own is not the app's).
func (b *Builder) sharedCaches(opts BuildOptions, u *User) []sharedCache {
	if b.cfg.SharedCaches == nil || opts.CacheKey == "" {
		return nil
	}
	var out []sharedCache
	for _, svc := range opts.Stack.Services {
		if opts.Only != nil && !slices.Contains(opts.Only, svc.Name) {
			continue
		}
		var toolchain string
		var vars []string
		switch svc.Runtime {
		case "go":
			toolchain, vars = "go", []string{"GOCACHE", "GOMODCACHE"}
		case "node":
			toolchain, vars = "npm", []string{"npm_config_cache"}
		default:
			continue
		}
		if slices.ContainsFunc(out, func(c sharedCache) bool { return c.key.Toolchain == toolchain }) {
			continue
		}
		dir := filepath.Join(b.cfg.CacheDir, toolchain, opts.CacheKey)
		env := b.env(stack.Service{Name: svc.Name, Runtime: svc.Runtime}, opts.CacheKey, u)
		if !slices.ContainsFunc(vars, func(k string) bool {
			v, ok := lookupEnvFold(env, k)
			return ok && filepath.IsAbs(v) && inside(dir, v)
		}) {
			continue
		}
		out = append(out, sharedCache{key: buildcache.Key{App: opts.CacheKey, AppID: opts.AppID, Toolchain: toolchain}, dir: dir, env: env})
	}
	return out
}

// restoreCaches restores the shared caches before a build. When commands
// run as another user, the folders are made that user's first, as
// buildService would, and what is restored is given to the user.
func (b *Builder) restoreCaches(ctx context.Context, caches []sharedCache, u *User, log Log) {
	var owner *buildcache.Owner
	if u.switches() {
		owner = &buildcache.Owner{UID: u.UID, GID: u.GID}
	}
	for _, c := range caches {
		if ctx.Err() != nil {
			return
		}
		err := b.userDirs(c.env, u, log)
		if err == nil {
			err = b.cfg.SharedCaches.Restore(ctx, c.key, c.dir, owner, log)
		}
		if err != nil {
			log.Line("seedbed", fmt.Sprintf("Could not restore the shared %s build cache: %v. This build goes on with what this machine has.", c.key.Toolchain, err))
		}
	}
}

// saveCaches saves the shared caches after a successful build.
func (b *Builder) saveCaches(ctx context.Context, caches []sharedCache, log Log) {
	for _, c := range caches {
		if ctx.Err() != nil {
			return
		}
		if err := b.cfg.SharedCaches.Save(ctx, c.key, c.dir, log); err != nil {
			log.Line("seedbed", fmt.Sprintf("Could not save the %s build cache: %v. The build is not affected.", c.key.Toolchain, err))
		}
	}
}
