// Package forge is what Seedbed understands of the Git forges it works with
// (GitHub, GitLab, Gitea/Forgejo and Bitbucket Cloud): the webhook deliveries
// they send us, and the commit statuses we send back.
//
// # Webhooks
//
// [Parse] verifies one delivery against the app's webhook secret and turns it
// into a forge-neutral [Event]: a branch push, a tag push, a pull (merge)
// request opened, updated or closed, or GitHub's ping. It is a pure function
// of its inputs: the HTTP layer reads the body (at most [MaxBody] bytes),
// passes the raw bytes and the request headers, and decides what to do with
// the outcome. Errors are classified so that layer can choose a status and
// show the message to the user as is:
//
//	errors.Is(err, ErrTooLarge)    → 413, rejected
//	errors.Is(err, ErrSignature)   → 401, rejected (forged, or a secret mismatch)
//	errors.Is(err, ErrMalformed)   → 400, rejected
//	errors.Is(err, ErrUnsupported) → 202, ignored (an event Seedbed does not act on)
//	errors.Is(err, ErrUnknownKind) → 404, no such forge in the URL
//
// Every message says what the user should change. Verification always comes
// before the event type is looked at, so an unsigned request learns nothing.
//
// De-duplicate on both [Event.DeliveryID] and [Event.BodySHA256]: forges
// resend the same delivery id on a retry, but the id travels in a header that
// the signature does not cover, so a replayed body with a fresh id is only
// recognisable by its digest.
//
// # Commit statuses
//
// [StatusReporter] sets a status (pending, success, failure, error) with a
// link to the build on a commit. [NewGitHubStatuses], [NewGitLabStatuses] and
// [NewGiteaStatuses] implement it with configurable API base URLs so that
// GitHub Enterprise, self-hosted GitLab and Gitea/Forgejo work too. Reporting
// is best effort: callers log a failed report and carry on; a build or deploy
// never fails because a forge could not be told about it.
package forge
