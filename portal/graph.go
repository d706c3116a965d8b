package portal

import (
	"fmt"
	"math"
	"time"

	"tollgate/radius"
)

// The usage graph of /my: one stacked bar a day (download below, upload above), drawn
// by the server as inline SVG, so it needs no script and shows in any browser. The
// viewBox is as wide as a phone's content column (graphW user units), so on a 390px
// screen one unit is about one pixel and the 11-unit labels read as 11px text; wider
// screens scale it up.

const (
	graphW, graphH = 360, 210
	graphLeft      = 58 // room for the y labels ("187.5 MB")
	graphRight     = 6
	graphTop       = 10
	graphBottom    = 24 // room for the x labels
)

// usageGraph is the geometry the template draws.
type usageGraph struct {
	W, H                       int
	PlotX, PlotY, PlotW, PlotH float64
	Bottom                     float64 // PlotY + PlotH: the x axis
	Right                      float64 // PlotX + PlotW
	LabelX                     float64 // where the y labels end
	XLabelY                    float64 // the baseline of the x labels
	Bars                       []graphBar
	Ticks                      []graphTick
	Labels                     []graphLabel
	Desc                       string // the totals, for screen readers
}

// graphBar is one day: the download rectangle at the bottom, upload on top of it.
type graphBar struct {
	X, W         float64
	DownY, DownH float64
	UpY, UpH     float64
	Day          string // 2026-12-01
	Title        string // the day and its numbers, shown on hover and read aloud
}

// graphTick is a horizontal grid line with its label.
type graphTick struct {
	Y      float64
	LabelY float64 // the label's baseline, centred on the line
	Label  string
}

// graphLabel is a day named under the x axis.
type graphLabel struct {
	X      float64
	Text   string
	Anchor string // text-anchor
}

// niceStep returns the smallest of 1, 2, 2.5 and 5 times a power of ten that is at
// least v (v > 0), so the axis reads in round numbers.
func niceStep(v float64) float64 {
	exp := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*exp >= v {
			return m * exp
		}
	}
	return 10 * exp
}

// newUsageGraph lays out days (oldest first) in the graph.
func newUsageGraph(days []radius.DayUsage) *usageGraph {
	g := &usageGraph{W: graphW, H: graphH, PlotX: graphLeft, PlotY: graphTop,
		PlotW: graphW - graphLeft - graphRight, PlotH: graphH - graphTop - graphBottom}
	g.Bottom, g.Right = g.PlotY+g.PlotH, g.PlotX+g.PlotW
	g.LabelX, g.XLabelY = g.PlotX-4, g.Bottom+16
	var peak, down, up int64
	for _, d := range days {
		peak = max(peak, d.Download+d.Upload)
		down += d.Download
		up += d.Upload
	}
	// About four round steps up to the peak, and no more than the peak needs.
	ticks, step := 4, 50e6 // an empty month still gets an axis: 0 to 200 MB
	if peak > 0 {
		step = niceStep(float64(peak) / 4)
		ticks = max(1, int(math.Ceil(float64(peak)/step)))
	}
	top := step * float64(ticks)
	for i := 0; i <= ticks; i++ {
		y := g.Bottom - g.PlotH*float64(i)/float64(ticks)
		g.Ticks = append(g.Ticks, graphTick{Y: y, LabelY: y + 4, Label: formatBytes(int64(step * float64(i)))})
	}
	if len(days) == 0 {
		return g
	}
	slot := g.PlotW / float64(len(days))
	width := math.Max(slot*0.7, 1)
	scale := func(n int64) float64 { return g.PlotH * float64(n) / top }
	for i, d := range days {
		x := g.PlotX + slot*float64(i) + (slot-width)/2
		dh, uh := scale(d.Download), scale(d.Upload)
		g.Bars = append(g.Bars, graphBar{
			X: x, W: width,
			DownY: g.Bottom - dh, DownH: dh,
			UpY: g.Bottom - dh - uh, UpH: uh,
			Day: d.Day.Format("2006-01-02"),
			Title: fmt.Sprintf("%s: %s down, %s up, %s online", d.Day.Format("Mon 2 Jan"), formatBytes(d.Download),
				formatBytes(d.Upload), formatDuration(time.Duration(d.Seconds)*time.Second)),
		})
		// Every seventh day from the last is named.
		if (len(days)-1-i)%7 == 0 {
			anchor := "middle"
			switch {
			case i == len(days)-1:
				anchor = "end"
			case i == 0:
				anchor = "start"
			}
			cx := x + width/2
			if anchor == "end" {
				cx = x + width
			}
			g.Labels = append(g.Labels, graphLabel{X: cx, Text: d.Day.Format("2 Jan"), Anchor: anchor})
		}
	}
	g.Desc = fmt.Sprintf("Daily data use over the last %d days: %s downloaded, %s uploaded in all.", len(days), formatBytes(down), formatBytes(up))
	return g
}
