package stack

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule is a parsed schedule expression: it says when the next tick
// after a time is. Ticks are a pure function of the expression and the
// clock, so that every Seedbed process computes the same ticks and one
// tick can be claimed exactly once.
type Schedule interface {
	// Next returns the first tick strictly after t.
	Next(t time.Time) time.Time
}

// Shortest and longest intervals a rate expression may ask for.
const (
	minRate = time.Second
	maxRate = 366 * 24 * time.Hour
)

var (
	rateRe    = regexp.MustCompile(`^rate\(\s*(\d+)\s+([a-z]+)\s*\)$`)
	awsCronRe = regexp.MustCompile(`^cron\((.*)\)$`)
)

// rateUnits maps the units of rate(…) to durations. AWS knows minutes,
// hours and days; seconds are Seedbed's own, for tests and tight loops.
var rateUnits = map[string]time.Duration{
	"second": time.Second, "seconds": time.Second,
	"minute": time.Minute, "minutes": time.Minute,
	"hour": time.Hour, "hours": time.Hour,
	"day": 24 * time.Hour, "days": 24 * time.Hour,
}

// ScheduleExamples is what a schedule may look like, for messages.
const ScheduleExamples = `"rate(5 minutes)", "cron(0 12 * * ? *)" (AWS EventBridge forms) or "0 12 * * 1-5" (standard cron, with time_zone)`

// ParseSchedule reads a schedule expression the way AWS EventBridge writes
// them — rate(5 minutes), cron(0 12 * * ? *) — or as a standard 5-field
// cron line. tz names the IANA time zone cron fields are read in ("" is
// UTC, as EventBridge rules are); rate ticks fall on whole multiples of
// their interval since the Unix epoch, whatever the zone.
func ParseSchedule(expr, tz string) (Schedule, error) {
	expr = strings.TrimSpace(expr)
	loc := time.UTC
	if tz != "" {
		l, err := time.LoadLocation(tz)
		if err != nil || strings.EqualFold(tz, "local") {
			return nil, fmt.Errorf("unknown time zone %q; give an IANA name such as Europe/Berlin or America/New_York", tz)
		}
		loc = l
	}
	switch {
	case expr == "":
		return nil, fmt.Errorf("the schedule is empty; write it like %s", ScheduleExamples)
	case strings.HasPrefix(expr, "rate("):
		return parseRate(expr)
	case strings.HasPrefix(expr, "cron("):
		return parseAWSCron(expr, loc)
	case strings.HasPrefix(expr, "@"):
		return nil, fmt.Errorf("schedule %q: descriptors such as @daily are not supported; write rate(1 day) or a cron line such as \"0 0 * * *\"", expr)
	}
	fields := strings.Fields(expr)
	if len(fields) != 5 {
		return nil, fmt.Errorf("schedule %q has %d fields; a standard cron line has 5 (minute hour day-of-month month day-of-week), or write %s", expr, len(fields), ScheduleExamples)
	}
	s, err := cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow).Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %v", expr, err)
	}
	return inZone{s, loc}, nil
}

// inZone computes a cron schedule's ticks in a time zone.
type inZone struct {
	s   cron.Schedule
	loc *time.Location
}

func (z inZone) Next(t time.Time) time.Time { return z.s.Next(t.In(z.loc)) }

// rate ticks every d, at whole multiples of d since the Unix epoch.
type rate time.Duration

func (r rate) Next(t time.Time) time.Time {
	d := time.Duration(r)
	return t.Truncate(d).Add(d)
}

func parseRate(expr string) (Schedule, error) {
	m := rateRe.FindStringSubmatch(expr)
	if m == nil {
		return nil, fmt.Errorf("schedule %q: write a rate as rate(VALUE UNIT), e.g. rate(5 minutes) or rate(1 hour)", expr)
	}
	unit, ok := rateUnits[m[2]]
	if !ok {
		return nil, fmt.Errorf("schedule %q: unknown unit %q; use minutes, hours or days (or seconds)", expr, m[2])
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n <= 0 {
		return nil, fmt.Errorf("schedule %q: the value must be a whole number above zero", expr)
	}
	d := time.Duration(n) * unit
	if d < minRate || d > maxRate || d/unit != time.Duration(n) {
		return nil, fmt.Errorf("schedule %q: the interval must be between 1 second and 366 days", expr)
	}
	return rate(d), nil
}

// parseAWSCron reads EventBridge's six fields (minutes hours day-of-month
// month day-of-week year). Days of the week count from 1 (Sunday) there
// and from 0 in standard cron, so numbers are shifted; "?" means any.
func parseAWSCron(expr string, loc *time.Location) (Schedule, error) {
	m := awsCronRe.FindStringSubmatch(expr)
	if m == nil {
		return nil, fmt.Errorf("schedule %q: write it as cron(MINUTES HOURS DAY-OF-MONTH MONTH DAY-OF-WEEK YEAR), e.g. cron(0 12 * * ? *)", expr)
	}
	f := strings.Fields(m[1])
	if len(f) != 6 {
		return nil, fmt.Errorf("schedule %q has %d fields; cron(…) takes 6: minutes hours day-of-month month day-of-week year, e.g. cron(0 12 * * ? *)", expr, len(f))
	}
	for _, v := range f {
		if strings.ContainsAny(v, "LW#") {
			return nil, fmt.Errorf("schedule %q: L, W and # are not supported; use plain values, ranges (1-5), lists (1,3) and steps (*/15)", expr)
		}
	}
	if f[2] != "?" && f[4] != "?" {
		return nil, fmt.Errorf("schedule %q: as in AWS, one of day-of-month and day-of-week must be ?, e.g. cron(0 12 * * ? *) or cron(0 12 ? * MON-FRI *)", expr)
	}
	if f[5] != "*" {
		return nil, fmt.Errorf("schedule %q: the year field must be *; Seedbed does not limit schedules to years", expr)
	}
	dow, err := shiftWeekdays(f[4])
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", expr, err)
	}
	line := strings.Join([]string{f[0], f[1], strings.ReplaceAll(f[2], "?", "*"), f[3], dow}, " ")
	s, err := cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow).Parse(line)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %v", expr, err)
	}
	return inZone{s, loc}, nil
}

// shiftWeekdays turns EventBridge's day-of-week numbers (1-7, Sunday
// first) into cron's (0-6); names and "*" stay as they are.
func shiftWeekdays(field string) (string, error) {
	if field == "?" || field == "*" {
		return "*", nil
	}
	var out []string
	for part := range strings.SplitSeq(field, ",") {
		rng, step, hasStep := strings.Cut(part, "/")
		var ends []string
		for e := range strings.SplitSeq(rng, "-") {
			if n, err := strconv.Atoi(e); err == nil {
				if n < 1 || n > 7 {
					return "", fmt.Errorf("day-of-week %d is out of range; AWS numbers days 1 (SUN) to 7 (SAT), or write SUN-SAT", n)
				}
				e = strconv.Itoa(n - 1)
			}
			ends = append(ends, e)
		}
		p := strings.Join(ends, "-")
		if hasStep {
			p += "/" + step
		}
		out = append(out, p)
	}
	return strings.Join(out, ","), nil
}
