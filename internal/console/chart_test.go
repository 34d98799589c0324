package console_test

import (
	"net/http/httptest"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/abd-ulbasit/goqueue/internal/console"
)

// Every y-axis label of a chart is drawn inside it. The labels are
// right-aligned at a fixed 52 px margin, so a time lag's "3 min 20 s" lost
// its start ("min 20 s") on the group page.
func TestChartAxisLabelsFit(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	b := newBrowser(t)
	srv := httptest.NewServer(console.New())
	t.Cleanup(srv.Close)
	b.run(chromedp.Navigate(srv.URL + "/ui/style.css")) // a page of the console's origin, without the app
	cut := eval[[]string](b, `Promise.all([import('/ui/chart.js'), import('/ui/fmt.js')]).then(([c, f]) => {
		const cut = [];
		for (const [format, peaks] of [[f.dur, [900, 45e3, 160e3, 2.5 * 3600e3, 30 * 86400e3]], [f.num, [3, 4500, 1234567, 9e12]]]) {
			for (const peak of peaks) {
				const svg = c.lineChart({ times: [0, 1000, 2000], series: [{ name: 's', values: [0, peak, peak / 2] }], label: 'test', format });
				document.body.append(svg);
				for (const el of svg.querySelectorAll('text')) if (el.getBBox().x < 0) cut.push(el.textContent);
				svg.remove();
			}
		}
		return cut;
	})`)
	if len(cut) > 0 {
		t.Errorf("axis labels drawn partly outside their chart: %q", cut)
	}
	b.noErrors()
}
