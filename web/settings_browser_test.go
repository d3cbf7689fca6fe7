package web_test

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/seedbed/seedbed/assets"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/testutil"
	"github.com/seedbed/seedbed/web"
)

// contrastJS is the WCAG contrast ratio of an element's text against the
// background it is drawn on (the first opaque background of it or an
// ancestor), as JavaScript taking the element e.
const contrastJS = `((e) => {
  const rgb = (s) => { const m = s.match(/[\d.]+/g).map(Number); return { c: m.slice(0, 3), a: m.length > 3 ? m[3] : 1 }; };
  const lum = (c) => { const [r, g, b] = c.map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  let bg = null;
  for (let n = e; n; n = n.parentElement) { const b = rgb(getComputedStyle(n).backgroundColor); if (b.a > 0.5) { bg = b.c; break; } }
  if (!bg) bg = [255, 255, 255];
  const fg = rgb(getComputedStyle(e).color).c;
  const [hi, lo] = [lum(fg), lum(bg)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
})`

// The app settings page reads well: the built-in remote's two commands are
// two lines, each readable against the dark box (no light strip of a code
// chip inside it); a refused delivery's row has no empty event chip; the
// forge settings card spans the page under the deliveries, not half of it.
// And the app page sets "Add a stage" and "Order" apart.
func TestAppSettingsReadableInBrowser(t *testing.T) {
	f := setupWith(t, func(cfg *web.Config) {
		cfg.Assets, cfg.Deliveries = assets.FS(), cfg.Store.(*store.Store)
		cfg.PublicURL, cfg.GitReposDir = "https://seedbed.example", t.TempDir()
	})
	ctx := context.Background()
	app, err := f.store.AppByName(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []store.WebhookDelivery{
		{AppID: app.ID, Forge: "github", DeliveryID: "d-1", Event: "push", Outcome: store.DeliveryIgnored, Reason: "no stage follows branch feature", Summary: "push to feature by ada"},
		{AppID: app.ID, Forge: "github", DeliveryID: "d-2", Outcome: store.DeliveryRejected, Reason: "bad signature"},
	} {
		if err := f.store.RecordDelivery(ctx, &d); err != nil {
			t.Fatal(err)
		}
	}
	b := consoleBrowser(t, f)
	if err := chromedp.Do(b,
		chromedp.EmulateViewport(1400, 900),
		chromedp.Navigate(f.srv.URL+"/apps/shop/settings"),
		chromedp.WaitVisible(`[data-testid=remote-commands]`),
	); err != nil {
		t.Fatal(err)
	}
	testutil.Screenshot(t, b, "app-settings")

	t.Run("remote commands", func(t *testing.T) {
		// The top of each line's text: two commands, two lines.
		tops := eval[[]float64](t, b, `(() => {
  const code = document.querySelector('[data-testid=remote-commands] code');
  const text = code.firstChild, i = text.textContent.indexOf('git push');
  const top = (from, to) => { const r = document.createRange(); r.setStart(text, from); r.setEnd(text, to); return r.getClientRects()[0].top; };
  return [top(0, 3), top(i, i + 3)];
})()`)
		if len(tops) != 2 || tops[1] <= tops[0]+5 {
			t.Errorf("git remote add and git push start at y %v: not on lines of their own", tops)
		}
		for _, sel := range []string{`[data-testid=remote-commands]`, `[data-testid=remote-commands] code`} {
			if c := eval[float64](t, b, contrastJS+`(document.querySelector('`+sel+`'))`); c < 7 {
				t.Errorf("%s: contrast %.1f:1 of its text to its background, want at least 7:1", sel, c)
			}
		}
		if bg := eval[string](t, b, `getComputedStyle(document.querySelector('[data-testid=remote-commands] code')).backgroundColor`); bg != "rgba(0, 0, 0, 0)" {
			t.Errorf("the commands sit on a strip of %s inside the box", bg)
		}
	})

	t.Run("deliveries", func(t *testing.T) {
		empty := eval[int](t, b, `[...document.querySelectorAll('[data-testid=deliveries] code, [data-testid=deliveries] .badge')].filter((e) => !e.textContent.trim()).length`)
		if empty != 0 {
			t.Errorf("%d empty chips in the deliveries", empty)
		}
		if !eval[bool](t, b, `!!document.querySelector('[data-testid=delivery-rejected]')`) {
			t.Error("the refused delivery is not listed")
		}
	})

	t.Run("forge settings card", func(t *testing.T) {
		got := eval[[]float64](t, b, `(() => {
  const t = document.querySelector('[data-testid=deliveries]').closest('.table-wrap').getBoundingClientRect();
  const c = document.querySelector('[data-testid=forge-form]').closest('.card').getBoundingClientRect();
  return [t.width, c.width, c.top - t.bottom];
})()`)
		if got[1] < got[0]-2 {
			t.Errorf("the forge settings card is %.0f px wide under a %.0f px table", got[1], got[0])
		}
		if got[2] < 16 {
			t.Errorf("the forge settings card starts %.0f px under the deliveries table, want a section's gap", got[2])
		}
	})

	t.Run("add a stage and order", func(t *testing.T) {
		if err := chromedp.Do(b, chromedp.Navigate(f.srv.URL+"/apps/shop"), chromedp.WaitVisible(`[data-testid=order-form]`)); err != nil {
			t.Fatal(err)
		}
		testutil.Screenshot(t, b, "app-stage-admin")
		gap := eval[float64](t, b, `document.querySelector('[data-testid=order-form] h3').getBoundingClientRect().top - document.querySelector('[data-testid=add-stage]').getBoundingClientRect().bottom`)
		if gap < 24 {
			t.Errorf("the Order heading is %.0f px under the Add stage button, want at least 24", gap)
		}
		if rule := eval[string](t, b, `getComputedStyle(document.querySelector('[data-testid=order-form]')).borderTopStyle`); rule != "solid" {
			t.Errorf("no rule sets the Order form apart: border-top %s", rule)
		}
	})
}
