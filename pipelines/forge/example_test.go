package forge_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/seedbed/seedbed/pipelines/forge"
)

// A webhook handler verifies and parses the delivery, then picks the HTTP
// status from the error's class.
func ExampleParse() {
	secret := "c2VlZGJlZC13ZWJob29rLXNlY3JldC1leGFtcGxl"
	body := []byte(`{"ref":"refs/heads/main",` +
		`"before":"5f1d3c0e8a4b2f7c9d6e1a3b5c7d9e0f1a2b3c4d","after":"1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d",` +
		`"commits":[{},{},{}],"head_commit":{"id":"1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d",` +
		`"message":"fix login\n\n[skip deploy]","author":{"name":"Mona","username":"octocat"}},` +
		`"repository":{"full_name":"octocat/shop"},"sender":{"login":"octocat"}}`)

	// What GitHub sends along with the body.
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	header := http.Header{}
	header.Set("X-GitHub-Event", "push")
	header.Set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
	header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))

	e, err := forge.Parse(forge.GitHub, secret, header, body)
	switch {
	case errors.Is(err, forge.ErrUnsupported):
		fmt.Println("202 ignored:", err)
	case errors.Is(err, forge.ErrSignature):
		fmt.Println("401 rejected:", err)
	case err != nil:
		fmt.Println("400 rejected:", err)
	default:
		fmt.Println("202 accepted:", e.Summary())
		fmt.Println("skip deploy:", e.SkipDeploy())
	}

	// The same body with another secret.
	_, err = forge.Parse(forge.GitHub, "another secret", header, body)
	fmt.Println(errors.Is(err, forge.ErrSignature), err)
	// Output:
	// 202 accepted: push to main by octocat: 3 commits, head 1a2b3c4 "fix login"
	// skip deploy: true
	// true X-Hub-Signature-256 does not match the body: check that the webhook secret in GitHub equals the one Seedbed shows for this app
}

// Reporting a status is best effort: a failure is logged, never returned
// to the build.
func ExampleGitHubStatuses_Report() {
	// Stands in for https://api.github.com.
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Println(r.Method, r.URL.Path)
		fmt.Println(string(body))
		w.WriteHeader(http.StatusCreated)
	}))
	defer api.Close()

	var statuses forge.StatusReporter = forge.NewGitHubStatuses(api.URL, "github_pat_example", nil)
	err := statuses.Report(context.Background(),
		forge.RepoRef{FullName: "octocat/shop"},
		"1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d",
		forge.Status{
			State:       forge.Success,
			TargetURL:   "https://seedbed.example.com/apps/shop/builds/12",
			Description: "deployed to dev in 41s",
			Context:     "seedbed/dev",
		})
	if err != nil {
		log.Printf("commit status not reported (the deploy goes on): %v", err)
	}
	// Output:
	// POST /repos/octocat/shop/statuses/1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d
	// {"state":"success","target_url":"https://seedbed.example.com/apps/shop/builds/12","description":"deployed to dev in 41s","context":"seedbed/dev"}
}
