package views

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/a-h/templ"
	"github.com/chromedp/chromedp"
)

// A long log poured in at once (a fast build, or a finished one whose page
// shows its head and streams the rest) is added in blocks of at most a
// frame's worth of lines, in order, each line once; the refresh after the
// end keeps the log the page has instead of streaming it a second time.
// How responsive this keeps the page is measured by bench/logpage.
func TestLongLogStreamsInBlocks(t *testing.T) {
	const streamed = 30_000
	var renders, streams atomic.Int32
	srv := consoleServer(t, map[string]http.HandlerFunc{
		"/builds/7": page(func() templ.Component {
			m := buildFixture()
			if renders.Add(1) > 1 { // the refresh after the end: finished, its log still streamed
				m.Build.Status = "succeeded"
				m.StreamURL = "/builds/7/events?after=3"
			}
			return BuildPage(m)
		}),
		"/builds/7/events": func(w http.ResponseWriter, r *http.Request) {
			streams.Add(1)
			w.Header().Set("Content-Type", "text/event-stream")
			var b strings.Builder
			for id := 4; id < 4+streamed; id++ {
				fmt.Fprintf(&b, "id: %d\nevent: line\ndata: {\"id\":%d,\"stream\":\"stdout\",\"html\":\"line <span class=\\\"ansi-green\\\">%d</span>\"}\n\n", id, id, id)
			}
			b.WriteString("event: status\ndata: {\"status\":\"succeeded\",\"error\":\"\"}\n\nevent: end\ndata: {}\n\n")
			_, _ = w.Write([]byte(b.String()))
			w.(http.Flusher).Flush()
		},
	})
	ctx := browser(t)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/builds/7"),
		poll(fmt.Sprintf(`document.querySelectorAll('#log span[data-id]').length === %d`, 3+streamed)),
		poll(`!document.querySelector('#log').hasAttribute('data-stream-url') && document.querySelector('[data-testid=build-status]').dataset.status === 'succeeded'`),
	); err != nil {
		t.Fatalf("stream the long log: %v", err)
	}
	check, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const ids = Array.from(document.querySelectorAll('#log span[data-id]')).map(s => +s.dataset.id);
		for (let i = 0; i < ids.length; i++) if (ids[i] !== i + 1) return 'line ' + i + ' has id ' + ids[i];
		const chunks = Array.from(document.querySelectorAll('#log > div.log-chunk'));
		if (chunks.length < 2) return chunks.length + ' blocks: the lines did not come in batches';
		const biggest = Math.max(...chunks.map(c => c.querySelectorAll('span[data-id]').length));
		if (biggest > 500) return 'a block of ' + biggest + ' lines';
		if (document.querySelectorAll('#log .ansi-green').length !== `+fmt.Sprint(streamed)+`) return 'colours lost';
		return 'ok';
	})()`))
	if err != nil || check != "ok" {
		t.Fatalf("the streamed log: %s (%v)", check, err)
	}
	time.Sleep(1500 * time.Millisecond) // a second stream would start by now
	if n, s := renders.Load(), streams.Load(); n != 2 || s != 1 {
		t.Errorf("%d renders and %d streams, want 2 (one refresh after the end) and 1 (the log kept)", n, s)
	}
}
