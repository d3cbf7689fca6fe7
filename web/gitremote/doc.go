// Package gitremote is Seedbed's built-in git remote: it serves
// http://HOST/git/<app>.git over git's smart HTTP protocol, so that
// `git push seedbed main` can build and deploy an app and `git clone` and
// `git fetch` read its repository back.
//
// # Who does what
//
// The real git speaks the protocol: one `git upload-pack --stateless-rpc` or
// `git receive-pack --stateless-rpc` per HTTP request, on a bare repository
// kept at ReposDir/<app>.git. Go does everything around it: routing, HTTP
// Basic authentication with a Seedbed API token, authorization
// (Config.Authorize: clone and fetch need ReadAccess, push WriteAccess; a
// user with no access gets the 404 of an app that does not exist, so app
// names do not leak; anonymous requests get 401 with a Basic challenge), the
// push size limit, and the pre-receive callback (Config.OnPush) that streams
// progress to the pusher and can refuse the push.
//
// The commands are run directly rather than through `git http-backend` and
// net/http/cgi because the CGI path gets in the way of both things this
// package exists for. net/http/cgi copies the CGI's output into the response
// without flushing, so the "remote:" lines of a push that waits for its build
// would reach the pusher in lumps or at the very end instead of live; and it
// refuses chunked request bodies, which git sends for every push over 1 MiB.
// http-backend itself adds nothing needed here: it maps the URL to a
// repository, insists on REMOTE_USER, and then runs the same two commands with
// the same flags that this package runs.
//
// # Pushes
//
// A push arrives as one POST whose body (the ref updates followed by the
// pack) is spooled to a temporary file in ReposDir, bounded by
// Config.MaxPushBytes; a push over the limit is refused with git's own
// "remote rejected" report and a message saying what to do, and git is never
// started for it. git receive-pack then reads the spool, stores the objects
// in its quarantine directory, checks them, and runs the repository's
// hooks/pre-receive, which EnsureRepo installs as
//
//	#!/bin/sh
//	exec <Config.HookCommand...> pre-receive
//
// By default that is the running binary: `seedbed git-hook pre-receive`,
// whose implementation is RunHook.
//
// The hook calls back into the process that serves the push through two pipes
// the server creates for each push and hands to git receive-pack as file
// descriptors 3 and 4; git's children, the hook among them, inherit them, and
// the environment variable SEEDBED_GIT_HOOK_FDS names them. Nothing listens on
// a port or a socket, so no other process can pretend to be a hook, and no
// secret has to be passed around. Over the pipes the hook sends one JSON
// request (the ref updates git gave it on stdin, the push options from
// GIT_PUSH_OPTION_<n>, the quarantine path) and receives JSON messages back:
// progress text, which it writes to its stdout (git relays that to the pusher
// as "remote:" lines while the hook runs), and a final verdict. The hook exits
// non-zero when OnPush returned an error, and git then refuses every ref of
// the push. A push that reaches the repository any other way (for example
// `git push /path/to/app.git` on the server) finds no descriptors and is
// refused, so every push passes through OnPush.
//
// # One push at a time per app
//
// git runs pre-receive before it locks the refs it updates, so a push that
// OnPush accepts (and deploys) can still be rejected by git afterwards:
// with ten pushes to main at once, each was built and deployed, and all but
// one then failed with "cannot lock ref", leaving the stage serving a commit
// that is not on the branch. So the pushes of one app take turns: once the
// hook has handed over its request, the server takes the app's push lock
// (an flock on ReposDir/<app>.git/seedbed-push.lock, so it also holds
// between processes and is dropped if one dies), telling a push that has to
// wait so; tries the ref updates in a git transaction that it prepares and
// aborts (git checks each ref's old value and name, as it will when it
// updates them), refusing the push with git's reason if they fail; and only
// then calls OnPush. The lock is released when git receive-pack has exited,
// after its ref updates. Nothing else moves the refs meanwhile, so a push
// that OnPush accepts is one git applies, and OnPush sees the pushes of an
// app in the order their refs change. The automatic gc after a push runs in
// the foreground for the same reason.
//
// The other way, deploying from git's reference-transaction hook in its
// "prepared" state (when git holds the ref locks), was not taken: git runs
// that hook with its output going to receive-pack's stderr, not to the
// pusher, so the build's and deploy's progress would have to be spliced
// into the side-band stream by hand; it runs once per ref and per state,
// also for git's internal transactions; and a second push of the branch
// would fail at once with "cannot lock ref" instead of waiting its turn.
//
// # Objects of a pending push
//
// While the pre-receive hook runs, git keeps the pushed objects in a
// quarantine directory that only git's own children can see. Before OnPush is
// called, the server moves them into the repository's object store (the same
// move git makes after the hook accepts), so OnPush and whatever it starts can
// read the new commits from Push.RepoDir, or fetch them by hash from this
// remote (uploadpack.allowAnySHA1InWant is on), before any ref points at
// them. If the push is then refused, the objects stay as unreferenced objects
// until `git gc` prunes them; no ref changes.
//
// # Mounting
//
// ServeHTTP expects the full request path, starting with /git/. Mount it
// before any middleware that limits body sizes, and without a write timeout
// that is shorter than a build: a push answers only when OnPush returns. The
// server clears the read and write deadlines of the connection for the
// requests it serves, where the ResponseWriter allows it.
package gitremote
