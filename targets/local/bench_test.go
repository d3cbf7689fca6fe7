package local

import (
	"io"
	"net/http"
	"testing"
)

// BenchmarkGatewayLambdaVsHTTP measures what one request costs through the
// gateway for an HTTP function (proxied) and for a Lambda-style function
// (an API Gateway event through the Runtime API and back), next to the
// HTTP function called directly, which is the floor. Both functions are Go
// binaries answering a small response at once, so the differences are the
// gateway's. "parallel" runs 8 clients per CPU: an HTTP function serves
// them concurrently, a Lambda-style instance one at a time.
//
//	go test -run '^$' -bench GatewayLambdaVsHTTP ./targets/local/
func BenchmarkGatewayLambdaVsHTTP(b *testing.B) {
	bb := setup(b, withTrees)
	bb.apply(b, shopDev,
		goFn("hello", "v1", nil, "GET /hello"),
		lambdaFn("go", "bootstrap", "go-lambda", nil),
	)
	var direct string // the HTTP function's own port
	for _, route := range bb.target.Table(shopDev).Routes() {
		if route.Function().Name == "hello" {
			direct = "http://" + bb.target.stages[shopDev].instances["api/hello"].first().addr() + "/hello"
		}
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	b.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	get := func(b *testing.B, url string) {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: status %d", url, resp.StatusCode)
		}
	}
	for _, bc := range []struct{ name, url string }{
		{"http-direct", direct},
		{"http", bb.server.URL + "/shop/dev/hello"},
		{"lambda", bb.server.URL + "/shop/dev/ping"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			get(b, bc.url) // warm the connection
			for b.Loop() {
				get(b, bc.url)
			}
		})
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					get(b, bc.url)
				}
			})
		})
	}
}
