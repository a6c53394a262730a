package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"go.uber.org/zap/zapcore"
)

// plainName is a flow, queue, trunk or agent name: no path, no extension.
var plainName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// dialedRE is a dialled number or extension as a switch reports it.
var dialedRE = regexp.MustCompile(`^[A-Za-z0-9+*#_.-]{1,64}$`)

func checkPlainName(s string) error {
	if !plainName.MatchString(s) {
		return fmt.Errorf("%q is not a plain name (letters, digits, _ and -, starting with a letter or digit, at most 64; no path or extension)", s)
	}
	return nil
}

// top decodes the file's root mapping.
func (d *decoder) top(c *Config, n ast.Node) {
	var switchN ast.Node
	d.fields(n, ck(), "config", map[string]func(ast.Node){
		"switch": func(v ast.Node) { switchN = v; d.switchSection(c, v) },
		"flows":  func(v ast.Node) { d.flows(c, v) },
		"store":  func(v ast.Node) { d.store(c, v) },
		"media": func(v ast.Node) {
			d.fields(v, ck("media"), "media", map[string]func(ast.Node){
				"dir":  d.path(&c.Media.Dir, "media.dir"),
				"keep": d.duration(&c.Media.Keep, "media.keep"),
			})
		},
		"api":    func(v ast.Node) { d.api(c, v) },
		"log":    func(v ast.Node) { d.log(c, v) },
		"trunks": func(v ast.Node) { d.trunks(c, v) },
		"agents": func(v ast.Node) { d.agents(c, v) },
		"queues": func(v ast.Node) { d.queues(c, v) },
		"faults": func(v ast.Node) { d.faults(c, v) },
		"node":   func(v ast.Node) { d.node(c, v) },

		"shutdown_timeout": d.positive(&c.ShutdownTimeout, "shutdown_timeout"),
	})
	if switchN == nil {
		d.errorf(n, "switch: section is required (switch: {type: asterisk | freeswitch | sim})")
	}
}

func (d *decoder) path(dst *string, what string) func(ast.Node) {
	return func(n ast.Node) {
		s, ok := d.scalar(n, what)
		if !ok {
			return
		}
		if s == "" {
			d.errorf(n, "%s: empty path", what)
			return
		}
		*dst = s
	}
}

// secret decodes an inline secret and its _file alternative; exactly one
// of them must be given when required.
type secret struct {
	value, file   string
	valueN, fileN ast.Node
}

func (d *decoder) secretFields(s *secret, key, what string, fs map[string]func(ast.Node)) {
	fs[key] = func(n ast.Node) { s.valueN = n; d.str(&s.value, what+"."+key)(n) }
	fs[key+"_file"] = func(n ast.Node) { s.fileN = n; d.path(&s.file, what+"."+key+"_file")(n) }
}

// finishSecret checks s and, for a file, registers it for Load.
func (d *decoder) finishSecret(c *Config, s *secret, section ast.Node, key, what string, required bool, dst func(*Config) *string) {
	switch {
	case s.valueN != nil && s.fileN != nil:
		d.errorf(s.fileN, "%s: give %s or %s_file, not both", what, key, key)
	case s.fileN != nil && s.file != "":
		line, col := 0, 0
		if tk := s.fileN.GetToken(); tk != nil && tk.Position != nil {
			line, col = tk.Position.Line, tk.Position.Column
		}
		c.secrets = append(c.secrets, secretRef{path: s.file, dst: dst, line: line, col: col})
	case s.valueN != nil && s.value == "" && required:
		d.errorf(s.valueN, "%s: empty %s", what, key)
	case s.valueN == nil && s.fileN == nil && required:
		d.errorf(section, "%s: %s or %s_file is required", what, key, key)
	}
}

func (d *decoder) switchSection(c *Config, n ast.Node) {
	var typeN, astN, fsN ast.Node
	var typ string
	d.fields(n, ck("switch"), "switch", map[string]func(ast.Node){
		"type":       func(v ast.Node) { typeN = v; d.str(&typ, "switch.type")(v) },
		"asterisk":   func(v ast.Node) { astN = v; d.asterisk(c, v) },
		"freeswitch": func(v ast.Node) { fsN = v; d.freeswitch(c, v) },
	})
	switch SwitchType(typ) {
	case Asterisk, FreeSWITCH, Sim:
		// The section a type needs, from the key table (the schema says the same).
		sections := map[string]ast.Node{"asterisk": astN, "freeswitch": fsN}
		if need := ck("switch", "type").needs[typ]; need != "" && sections[need] == nil {
			d.errorf(typeN, "switch: type %s needs %s %s section (%s)", typ, article(need), need, strings.Join(ck("switch", need).fieldNames(), ", "))
		}
	default:
		if typeN == nil {
			d.errorf(n, "switch.type is required (asterisk, freeswitch or sim)")
			return
		}
		d.errorf(typeN, "switch.type: unknown switch %q (want asterisk, freeswitch or sim)", typ)
		return
	}
	c.Switch.Type = SwitchType(typ)
}

func (d *decoder) asterisk(c *Config, n ast.Node) {
	a := &AsteriskConfig{App: DefaultAsteriskApp}
	var urlN, userN, agiN ast.Node
	var pw secret
	fs := map[string]func(ast.Node){
		"fastagi_listen": func(v ast.Node) {
			agiN = v
			d.hostPort(&a.FastAGIListen, "switch.asterisk.fastagi_listen")(v)
		},
		"fastagi_allow_remote": d.boolean(&a.FastAGIAllowRemote, "switch.asterisk.fastagi_allow_remote"),
		"url":                  func(v ast.Node) { urlN = v; d.str(&a.URL, "switch.asterisk.url")(v) },
		"username":             func(v ast.Node) { userN = v; d.str(&a.Username, "switch.asterisk.username")(v) },
		"app": func(v ast.Node) {
			d.str(&a.App, "switch.asterisk.app")(v)
			if err := checkPlainName(a.App); err != nil {
				d.errorf(v, "switch.asterisk.app: %v", err)
			}
		},
		"recordings_dir": func(v ast.Node) {
			d.str(&a.RecordingsDir, "switch.asterisk.recordings_dir")(v)
			if a.RecordingsDir != "" && !filepath.IsAbs(a.RecordingsDir) {
				d.errorf(v, "switch.asterisk.recordings_dir: %q is not an absolute path (it names Asterisk's recording folder, e.g. /var/spool/asterisk/recording)", a.RecordingsDir)
			}
		},
	}
	d.secretFields(&pw, "password", "switch.asterisk", fs)
	d.fields(n, ck("switch", "asterisk"), "switch.asterisk", fs)
	if urlN == nil {
		d.errorf(n, "switch.asterisk.url is required (e.g. http://127.0.0.1:8088/ari)")
	} else if err := checkARIURL(a.URL); err != nil {
		d.errorf(urlN, "switch.asterisk.url: %v", err)
	}
	if userN == nil || a.Username == "" {
		d.errorf(firstNode(userN, n), "switch.asterisk.username is required")
	}
	if a.FastAGIListen != "" && !IsLoopback(a.FastAGIListen) && !a.FastAGIAllowRemote {
		d.errorf(firstNode(agiN, n), "switch.asterisk.fastagi_listen: %s is reachable from other hosts and FastAGI has no authentication; set fastagi_allow_remote: true to mean it", a.FastAGIListen)
	}
	a.Password, a.PasswordFile = pw.value, pw.file
	d.finishSecret(c, &pw, n, "password", "switch.asterisk", true, func(c *Config) *string { return &c.Switch.Asterisk.Password })
	c.Switch.Asterisk = a
}

func firstNode(ns ...ast.Node) ast.Node {
	for _, n := range ns {
		if n != nil {
			return n
		}
	}
	return nil
}

func checkARIURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q does not parse: %v", s, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q: want an http:// or https:// URL", s)
	case u.Host == "":
		return fmt.Errorf("%q has no host", s)
	case u.User != nil:
		return fmt.Errorf("%q: put credentials in username and password, not in the URL", s)
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%q: no query or fragment allowed", s)
	}
	if p := u.Port(); p != "" {
		if _, err := parsePort(p); err != nil {
			return fmt.Errorf("%q: %v", s, err)
		}
	}
	return nil
}

func parsePort(p string) (int, error) {
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %q is not 1-65535", p)
	}
	return n, nil
}

// hostPort decodes a host:port address.
func (d *decoder) hostPort(dst *string, what string) func(ast.Node) {
	return func(n ast.Node) {
		s, ok := d.scalar(n, what)
		if !ok {
			return
		}
		host, port, err := net.SplitHostPort(s)
		if err != nil {
			d.errorf(n, "%s: %q is not host:port", what, s)
			return
		}
		_ = host // any host; empty = all interfaces
		if _, err := parsePort(port); err != nil {
			d.errorf(n, "%s: %v", what, err)
			return
		}
		*dst = s
	}
}

func (d *decoder) freeswitch(c *Config, n ast.Node) {
	f := &FreeSWITCHConfig{Inbound: DefaultESLInbound, OutboundListen: DefaultESLOutbound}
	var pw secret
	fs := map[string]func(ast.Node){
		"inbound":         d.hostPort(&f.Inbound, "switch.freeswitch.inbound"),
		"outbound_listen": d.hostPort(&f.OutboundListen, "switch.freeswitch.outbound_listen"),
	}
	d.secretFields(&pw, "password", "switch.freeswitch", fs)
	d.fields(n, ck("switch", "freeswitch"), "switch.freeswitch", fs)
	f.Password, f.PasswordFile = pw.value, pw.file
	d.finishSecret(c, &pw, n, "password", "switch.freeswitch", true, func(c *Config) *string { return &c.Switch.FreeSWITCH.Password })
	c.Switch.FreeSWITCH = f
}

func (d *decoder) flows(c *Config, n ast.Node) {
	d.fields(n, ck("flows"), "flows", map[string]func(ast.Node){
		"dir":     d.path(&c.Flows.Dir, "flows.dir"),
		"default": d.flowName(&c.Flows.Default, "flows.default"),
		"by_dialed": func(v ast.Node) {
			es, _ := d.entries(v, "flows.by_dialed")
			for _, e := range es {
				if !dialedRE.MatchString(e.key) {
					d.errorf(e.keyN, "flows.by_dialed: %q is not a dialled number or extension", e.key)
					continue
				}
				if e.value == nil {
					d.errorf(e.keyN, "flows.by_dialed: %s names no flow", e.key)
					continue
				}
				var flow string
				d.flowName(&flow, "flows.by_dialed."+e.key)(e.value)
				if flow != "" {
					c.Flows.ByDialed[e.key] = flow
				}
			}
		},
	})
}

func (d *decoder) flowName(dst *string, what string) func(ast.Node) {
	return func(n ast.Node) {
		s, ok := d.scalar(n, what)
		if !ok {
			return
		}
		if err := checkPlainName(s); err != nil {
			d.errorf(n, "%s: flow %v", what, err)
			return
		}
		*dst = s
	}
}

func (d *decoder) api(c *Config, n ast.Node) {
	var listenN, remoteN ast.Node
	var tok secret
	fs := map[string]func(ast.Node){
		"listen":       func(v ast.Node) { listenN = v; d.hostPort(&c.API.Listen, "api.listen")(v) },
		"allow_remote": func(v ast.Node) { remoteN = v; d.boolean(&c.API.AllowRemote, "api.allow_remote")(v) },
	}
	d.secretFields(&tok, "token", "api", fs)
	d.fields(n, ck("api"), "api", fs)
	c.API.Token, c.API.TokenFile = tok.value, tok.file
	d.finishSecret(c, &tok, n, "token", "api", false, func(c *Config) *string { return &c.API.Token })
	hasToken := tok.fileN != nil || tok.value != ""
	if !IsLoopback(c.API.Listen) {
		switch {
		case !c.API.AllowRemote:
			d.errorf(firstNode(listenN, n), "api.listen: %s is reachable from other hosts; set allow_remote: true to mean it", c.API.Listen)
		case !hasToken:
			d.errorf(firstNode(remoteN, n), "api: allow_remote needs a token or token_file")
		}
	}
}

// IsLoopback reports whether a host:port only listens on loopback.
func IsLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

func (d *decoder) log(c *Config, n ast.Node) {
	d.fields(n, ck("log"), "log", map[string]func(ast.Node){
		"level": func(v ast.Node) {
			s, ok := d.scalar(v, "log.level")
			if !ok {
				return
			}
			l, err := zapcore.ParseLevel(s)
			if err != nil || l > zapcore.ErrorLevel {
				d.errorf(v, "log.level: unknown level %q (want debug, info, warn or error)", s)
				return
			}
			c.Log.Level = l
		},
		"format": func(v ast.Node) {
			s, ok := d.scalar(v, "log.format")
			if !ok {
				return
			}
			if s != "console" && s != "json" {
				d.errorf(v, "log.format: unknown format %q (want console or json)", s)
				return
			}
			c.Log.Format = s
		},
	})
}

// article is "an" before a vowel, else "a".
func article(word string) string {
	if strings.ContainsAny(word[:1], "aeiou") {
		return "an"
	}
	return "a"
}
