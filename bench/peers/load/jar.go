package main

import (
	"strconv"
	"strings"
	"time"
)

// A session's cookie jar as a browser keeps it for one site (RFC 6265, without Domain and Path: every
// request of the load goes to one site, under /demo): cookies by name in the order they were first set
// (a replaced cookie keeps its place), and a cookie whose Max-Age is zero or less, or whose Expires is
// past, removed. Tomcat's JvmRouteBinderValve (a rebound session id) and Cattery's version cookie
// (`<name>_V`) rely on this.
type cookie struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type jar struct {
	cookies []cookie
	header  string // the Cookie header's value, rebuilt when the jar changes
}

func newJar(cookies []cookie) *jar {
	j := &jar{cookies: cookies}
	j.rebuild()
	return j
}

func (j *jar) rebuild() {
	var b strings.Builder
	for i, c := range j.cookies {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(c.Name)
		b.WriteByte('=')
		b.WriteString(c.Value)
	}
	j.header = b.String()
}

// setCookie applies one Set-Cookie header's value, received at `now`.
func (j *jar) setCookie(line string, now time.Time) {
	pair, attrs, _ := strings.Cut(line, ";")
	name, value, ok := strings.Cut(pair, "=")
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	if !ok || name == "" {
		return // a browser ignores it too (or keeps a nameless cookie no server of the load sets)
	}
	maxAge, hasMaxAge := int64(0), false
	var expires time.Time
	for attrs != "" {
		var a string
		a, attrs, _ = strings.Cut(attrs, ";")
		k, v, _ := strings.Cut(a, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case strings.EqualFold(k, "max-age"):
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				maxAge, hasMaxAge = n, true
			}
		case strings.EqualFold(k, "expires"):
			if t, ok := parseCookieDate(v); ok {
				expires = t
			}
		}
	}
	// Max-Age wins over Expires (RFC 6265 §5.3, step 3).
	expired := (hasMaxAge && maxAge <= 0) || (!hasMaxAge && !expires.IsZero() && !expires.After(now))
	for i, c := range j.cookies {
		if c.Name != name {
			continue
		}
		if expired {
			j.cookies = append(j.cookies[:i], j.cookies[i+1:]...)
		} else if c.Value != value {
			j.cookies[i].Value = value
		} else {
			return
		}
		j.rebuild()
		return
	}
	if !expired {
		j.cookies = append(j.cookies, cookie{name, value})
		j.rebuild()
	}
}

// The date formats servers send in Expires (RFC 1123 and the older Netscape, RFC 850 and asctime ones).
var cookieDateLayouts = []string{
	"Mon, 02 Jan 2006 15:04:05 GMT",
	"Mon, 02-Jan-2006 15:04:05 GMT",
	"Monday, 02-Jan-06 15:04:05 GMT",
	"Mon Jan _2 15:04:05 2006",
}

func parseCookieDate(s string) (time.Time, bool) {
	for _, layout := range cookieDateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
