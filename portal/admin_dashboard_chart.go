package portal

import (
	"fmt"
	"html/template"
	"math"
	"strings"
)

// The dashboard's charts: bar charts drawn by the server as SVG markup, the same on the
// first render and in every refresh (the page's script swaps the markup the JSON
// endpoint sends; it draws nothing itself). Colours and text styles come from
// style.css classes, never from style attributes, so the page's CSP holds.

// chartSeries is one stacked layer of a bar chart.
type chartSeries struct {
	Name   string    // for the legend and the bar titles
	Class  string    // CSS class of its bars (s1, s2, …)
	Values []float64 // one per bar
}

// barChart is what renderBarChart draws: len(Labels) bars, the series stacked in order
// from the axis up.
type barChart struct {
	ID     string   // the <svg> id
	Title  string   // what the chart shows, read aloud
	Labels []string // each bar's name, in its title
	// Ticks names every how many bars the x axis writes a label (0: 6 labels).
	Ticks  int
	Series []chartSeries
	// Format writes a value for the axis and the titles.
	Format func(float64) string
}

// The charts' viewBox: as wide as a phone's column, scaled up on wider screens.
const (
	chartW, chartH               = 360.0, 180.0
	chartLeft, chartRight        = 52.0, 6.0
	chartTop, chartBottom        = 10.0, 24.0
	chartPlotW, chartPlotH       = chartW - chartLeft - chartRight, chartH - chartTop - chartBottom
	chartAxisY                   = chartTop + chartPlotH
	chartLabelGap, chartTickGaps = 4.0, 4
)

// renderBarChart returns c as an <svg> element: the grid with about four round steps up
// to the tallest stack, the stacked bars (each with a title naming its values), the x
// labels and the legend's text in the accessible name.
func renderBarChart(c barChart) template.HTML {
	n := len(c.Labels)
	peak := 0.0
	for i := 0; i < n; i++ {
		sum := 0.0
		for _, s := range c.Series {
			if i < len(s.Values) {
				sum += s.Values[i]
			}
		}
		peak = math.Max(peak, sum)
	}
	ticks, step := chartTickGaps, 1.0
	if peak > 0 {
		step = niceStep(peak / chartTickGaps)
		ticks = max(1, int(math.Ceil(peak/step)))
	}
	top := step * float64(ticks)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" id="%s" viewBox="0 0 %g %g" role="img" aria-label="%s" data-bars="%d">`,
		template.HTMLEscapeString(c.ID), chartW, chartH, template.HTMLEscapeString(c.Title), n)
	fmt.Fprintf(&b, `<title>%s</title>`, template.HTMLEscapeString(c.Title))
	for i := 0; i <= ticks; i++ {
		y := chartAxisY - chartPlotH*float64(i)/float64(ticks)
		class := "grid"
		if i == 0 {
			class = "axis"
		}
		fmt.Fprintf(&b, `<line class="%s" x1="%g" x2="%g" y1="%.1f" y2="%.1f"/>`, class, chartLeft, chartW-chartRight, y, y)
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" text-anchor="end">%s</text>`, chartLeft-chartLabelGap, y+4,
			template.HTMLEscapeString(c.Format(step*float64(i))))
	}
	if n > 0 {
		slot := chartPlotW / float64(n)
		width := math.Max(slot*0.75, 1)
		every := c.Ticks
		if every <= 0 {
			every = max(1, n/6)
		}
		for i := 0; i < n; i++ {
			x := chartLeft + slot*float64(i) + (slot-width)/2
			var title []string
			y := chartAxisY
			for _, s := range c.Series {
				v := 0.0
				if i < len(s.Values) {
					v = s.Values[i]
				}
				title = append(title, s.Name+" "+c.Format(v))
				if v <= 0 {
					continue
				}
				h := chartPlotH * v / top
				y -= h
				fmt.Fprintf(&b, `<rect class="bar %s" x="%.2f" y="%.2f" width="%.2f" height="%.2f"><title>%s: %s</title></rect>`,
					s.Class, x, y, width, h, template.HTMLEscapeString(c.Labels[i]), template.HTMLEscapeString(strings.Join(title, ", ")))
			}
			if (n-1-i)%every == 0 {
				anchor, cx := "middle", x+width/2
				switch {
				case i == n-1:
					anchor, cx = "end", x+width
				case i == 0:
					anchor, cx = "start", x
				}
				fmt.Fprintf(&b, `<text x="%.2f" y="%g" text-anchor="%s">%s</text>`, cx, chartAxisY+16, anchor, template.HTMLEscapeString(c.Labels[i]))
			}
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every text above is escaped
}
