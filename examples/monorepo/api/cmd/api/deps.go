// Minimal clients for the two dependencies, standard library only (the image builds offline):
// a PostgreSQL simple query (SCRAM-SHA-256, MD5 or cleartext password) and Redis commands.
package main

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// pgQuery runs one simple query on the database of a postgres:// URL and returns the first
// row's columns.
func pgQuery(rawURL, query string) ([]string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	user := u.User.Username()
	password, _ := u.User.Password()
	database := strings.TrimPrefix(u.Path, "/")
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "5432")
	}
	conn, err := net.DialTimeout("tcp", host, 3*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)

	var startup []byte
	startup = binary.BigEndian.AppendUint32(startup, 196608)
	for _, kv := range [][2]string{{"user", user}, {"database", database}} {
		startup = append(append(append(append(startup, kv[0]...), 0), kv[1]...), 0)
	}
	startup = append(startup, 0)
	if err := pgSend(conn, 0, startup); err != nil {
		return nil, err
	}
	var scram *scramClient
	var row []string
	for {
		typ, body, err := pgRead(r)
		if err != nil {
			return nil, err
		}
		switch typ {
		case 'E':
			return nil, pgError(body)
		case 'R':
			if len(body) < 4 {
				return nil, errors.New("short authentication message")
			}
			code, data := binary.BigEndian.Uint32(body), body[4:]
			switch code {
			case 0: // AuthenticationOk
			case 3:
				err = pgSend(conn, 'p', append([]byte(password), 0))
			case 5:
				inner := md5.Sum([]byte(password + user))
				outer := md5.Sum(append([]byte(hex.EncodeToString(inner[:])), data[:4]...))
				err = pgSend(conn, 'p', append([]byte("md5"+hex.EncodeToString(outer[:])), 0))
			case 10:
				if !bytes.Contains(data, []byte("SCRAM-SHA-256\x00")) {
					return nil, errors.New("the server offers no SCRAM-SHA-256")
				}
				scram = newScram(password)
				first := scram.clientFirst()
				msg := append([]byte("SCRAM-SHA-256\x00"), binary.BigEndian.AppendUint32(nil, uint32(len(first)))...)
				err = pgSend(conn, 'p', append(msg, first...))
			case 11:
				if scram == nil {
					return nil, errors.New("SCRAM continue before start")
				}
				var final string
				if final, err = scram.clientFinal(string(data)); err == nil {
					err = pgSend(conn, 'p', []byte(final))
				}
			case 12:
				if scram == nil || !scram.verify(string(data)) {
					return nil, errors.New("the server's SCRAM signature does not match")
				}
			default:
				return nil, fmt.Errorf("unsupported authentication method %d", code)
			}
			if err != nil {
				return nil, err
			}
		case 'Z': // ReadyForQuery: after the startup, then after the query.
			if row != nil {
				return row, nil
			}
			if err := pgSend(conn, 'Q', append([]byte(query), 0)); err != nil {
				return nil, err
			}
			row = []string{}
		case 'D':
			if len(row) == 0 {
				row = pgRow(body)
			}
		}
	}
}

func pgSend(w io.Writer, typ byte, body []byte) error {
	var msg []byte
	if typ != 0 {
		msg = append(msg, typ)
	}
	msg = binary.BigEndian.AppendUint32(msg, uint32(len(body)+4))
	_, err := w.Write(append(msg, body...))
	return err
}

func pgRead(r *bufio.Reader) (byte, []byte, error) {
	var head [5]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(head[1:])
	if n < 4 || n > 1<<24 {
		return 0, nil, fmt.Errorf("bad message length %d", n)
	}
	body := make([]byte, n-4)
	_, err := io.ReadFull(r, body)
	return head[0], body, err
}

// pgError is the message field of an ErrorResponse.
func pgError(body []byte) error {
	for _, f := range bytes.Split(body, []byte{0}) {
		if len(f) > 1 && f[0] == 'M' {
			return errors.New(string(f[1:]))
		}
	}
	return errors.New("postgres error")
}

func pgRow(body []byte) []string {
	var cols []string
	if len(body) < 2 {
		return cols
	}
	n, p := int(binary.BigEndian.Uint16(body)), body[2:]
	for i := 0; i < n && len(p) >= 4; i++ {
		l := int(int32(binary.BigEndian.Uint32(p)))
		p = p[4:]
		if l < 0 || l > len(p) {
			cols = append(cols, "")
			continue
		}
		cols = append(cols, string(p[:l]))
		p = p[l:]
	}
	return cols
}

// scramClient is the client side of SCRAM-SHA-256 (RFC 5802, RFC 7677) without channel
// binding, as PostgreSQL uses it (the user name is taken from the startup message).
type scramClient struct {
	password, nonce, firstBare, authMessage string
	saltedPassword                          []byte
}

func newScram(password string) *scramClient {
	b := make([]byte, 18)
	rand.Read(b)
	return &scramClient{password: password, nonce: base64.StdEncoding.EncodeToString(b)}
}

func (s *scramClient) clientFirst() string {
	s.firstBare = "n=,r=" + s.nonce
	return "n,," + s.firstBare
}

func (s *scramClient) clientFinal(serverFirst string) (string, error) {
	var nonce, salt string
	iter := 0
	for _, kv := range strings.Split(serverFirst, ",") {
		switch {
		case strings.HasPrefix(kv, "r="):
			nonce = kv[2:]
		case strings.HasPrefix(kv, "s="):
			salt = kv[2:]
		case strings.HasPrefix(kv, "i="):
			iter, _ = strconv.Atoi(kv[2:])
		}
	}
	saltBytes, err := base64.StdEncoding.DecodeString(salt)
	if err != nil || !strings.HasPrefix(nonce, s.nonce) || iter < 1 {
		return "", errors.New("bad SCRAM server-first message")
	}
	s.saltedPassword = pbkdf2SHA256([]byte(s.password), saltBytes, iter)
	withoutProof := "c=biws,r=" + nonce
	s.authMessage = s.firstBare + "," + serverFirst + "," + withoutProof
	clientKey := hmacSHA256(s.saltedPassword, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	signature := hmacSHA256(storedKey[:], s.authMessage)
	proof := make([]byte, len(clientKey))
	for i := range clientKey {
		proof[i] = clientKey[i] ^ signature[i]
	}
	return withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof), nil
}

func (s *scramClient) verify(serverFinal string) bool {
	got, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(serverFinal, "v="))
	if err != nil {
		return false
	}
	want := hmacSHA256(hmacSHA256(s.saltedPassword, "Server Key"), s.authMessage)
	return hmac.Equal(got, want)
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// pbkdf2SHA256 is PBKDF2-HMAC-SHA-256 for one 32-byte block (SCRAM's Hi function).
func pbkdf2SHA256(password, salt []byte, iter int) []byte {
	m := hmac.New(sha256.New, password)
	m.Write(salt)
	m.Write([]byte{0, 0, 0, 1})
	u := m.Sum(nil)
	out := append([]byte(nil), u...)
	for i := 1; i < iter; i++ {
		m.Reset()
		m.Write(u)
		u = m.Sum(u[:0])
		for j := range out {
			out[j] ^= u[j]
		}
	}
	return out
}

// redisDo runs one command on the server of a redis:// URL (authenticating with its password)
// and returns the reply: a string, an int64, nil or a []any.
func redisDo(rawURL string, args ...string) (any, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "6379")
	}
	conn, err := net.DialTimeout("tcp", host, 3*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	if password, ok := u.User.Password(); ok && password != "" {
		if _, err := redisCall(conn, r, "AUTH", password); err != nil {
			return nil, err
		}
	}
	return redisCall(conn, r, args...)
}

func redisCall(w io.Writer, r *bufio.Reader, args ...string) (any, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return nil, err
	}
	return redisReply(r)
}

func redisReply(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("empty redis reply")
	}
	switch line[0] {
	case '+':
		return line[1:], nil
	case '-':
		return nil, errors.New(line[1:])
	case ':':
		return strconv.ParseInt(line[1:], 10, 64)
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return nil, err
		}
		items := make([]any, 0, n)
		for i := 0; i < n; i++ {
			v, err := redisReply(r)
			if err != nil {
				return nil, err
			}
			items = append(items, v)
		}
		return items, nil
	}
	return nil, fmt.Errorf("unexpected redis reply %q", line)
}
