package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"time"
)

// One keep-alive HTTP/1.1 connection to a node, as a browser holds one: GET requests written and
// responses parsed by hand (status, Content-Length or chunked body, Set-Cookie, Connection: close),
// a fraction of net/http's cost per request, so that the generator takes little of the CPU the
// systems under test share with it.
type conn struct {
	addr string // host:port
	nc   net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	body []byte // the last response's body, reused
}

var errMalformed = errors.New("malformed HTTP response")

// get sends GET `path` with the jar's cookies and applies the response's Set-Cookie headers to the
// jar. The body is valid until the next call. A reused connection that fails before any byte of the
// response is retried once on a new one, as browsers do for a GET: the server may have closed it.
func (c *conn) get(path string, j *jar) (int, []byte, error) {
	reused := c.nc != nil
	status, body, answered, err := c.roundTrip(path, j)
	if err != nil {
		c.close()
		if reused && !answered {
			status, body, _, err = c.roundTrip(path, j)
			if err != nil {
				c.close()
			}
		}
	}
	return status, body, err
}

func (c *conn) close() {
	if c.nc != nil {
		c.nc.Close()
		c.nc = nil
	}
}

func (c *conn) roundTrip(path string, j *jar) (status int, body []byte, answered bool, err error) {
	if c.nc == nil {
		nc, err := net.Dial("tcp", c.addr)
		if err != nil {
			return 0, nil, false, err
		}
		c.nc, c.r, c.w = nc, bufio.NewReaderSize(nc, 16<<10), bufio.NewWriterSize(nc, 4<<10)
	}
	c.w.WriteString("GET ")
	c.w.WriteString(path)
	c.w.WriteString(" HTTP/1.1\r\nHost: ")
	c.w.WriteString(c.addr)
	if j.header != "" {
		c.w.WriteString("\r\nCookie: ")
		c.w.WriteString(j.header)
	}
	c.w.WriteString("\r\n\r\n")
	if err := c.w.Flush(); err != nil {
		return 0, nil, false, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, nil, len(line) > 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, nil, true, errMalformed
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, true, errMalformed
	}
	length, chunked, closing := -1, false, line[7] == '0' // HTTP/1.0 closes unless told otherwise
	now := time.Now()
	for {
		line, err = c.r.ReadSlice('\n')
		if err != nil {
			return 0, nil, true, err
		}
		h := bytes.TrimRight(line, "\r\n")
		if len(h) == 0 {
			break
		}
		colon := bytes.IndexByte(h, ':')
		if colon < 0 {
			return 0, nil, true, errMalformed
		}
		name, value := h[:colon], bytes.TrimSpace(h[colon+1:])
		switch {
		case bytes.EqualFold(name, []byte("content-length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return 0, nil, true, errMalformed
			}
		case bytes.EqualFold(name, []byte("transfer-encoding")):
			chunked = bytes.Contains(bytes.ToLower(value), []byte("chunked"))
		case bytes.EqualFold(name, []byte("connection")):
			v := bytes.ToLower(value)
			closing = bytes.Contains(v, []byte("close")) || (closing && !bytes.Contains(v, []byte("keep-alive")))
		case bytes.EqualFold(name, []byte("set-cookie")):
			j.setCookie(string(value), now)
		}
	}
	c.body = c.body[:0]
	switch {
	case status < 200 || status == 204 || status == 304:
	case chunked:
		err = c.readChunked()
	case length >= 0:
		err = c.readN(length)
	default: // delimited by the end of the connection
		c.body, err = io.ReadAll(c.r)
		closing = true
	}
	if err != nil {
		return 0, nil, true, err
	}
	if closing {
		c.close()
	}
	return status, c.body, true, nil
}

func (c *conn) readN(n int) error {
	start := len(c.body)
	if cap(c.body)-start < n {
		grown := make([]byte, start, start+n)
		copy(grown, c.body)
		c.body = grown
	}
	c.body = c.body[:start+n]
	_, err := io.ReadFull(c.r, c.body[start:])
	return err
}

func (c *conn) readChunked() error {
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		size := bytes.TrimSpace(line)
		if i := bytes.IndexByte(size, ';'); i >= 0 {
			size = size[:i] // chunk extensions
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 32)
		if err != nil || n < 0 {
			return errMalformed
		}
		if n == 0 {
			for { // trailers, up to the empty line
				line, err = c.r.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					return nil
				}
			}
		}
		if err := c.readN(int(n)); err != nil {
			return err
		}
		if _, err := c.r.Discard(2); err != nil { // the chunk's CRLF
			return err
		}
	}
}
