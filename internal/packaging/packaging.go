// Package packaging builds the callflow Debian package with nfpm used as a
// library: the binary, the systemd unit, the example configuration (adjusted
// for /etc/callflow and /var/lib/callflow) and the example flows, plus the
// maintainer scripts that create the callflow system user.
package packaging

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
)

// Options say what to pack and where to put the .deb.
type Options struct {
	Root    string // repository root (holds deploy/, examples/)
	Binary  string // the built callflow binary
	Version string // e.g. from git describe; made into a valid Debian version
	Arch    string // Go architecture; default runtime.GOARCH
	OutDir  string // where the .deb is written
}

// Installed paths.
const (
	BinPath    = "/usr/bin/callflow"
	UnitPath   = "/lib/systemd/system/callflow.service"
	ConfigPath = "/etc/callflow/config.yaml"
	FlowsDir   = "/etc/callflow/flows"
	StateDir   = "/var/lib/callflow"
	// SchemaDir holds the JSON Schemas the installed YAML files name in
	// their yaml-language-server modelines.
	SchemaDir = "/usr/share/callflow/schema"
)

// schemaRef is how the repository's examples name their schema (relative
// to examples/flows and examples/config).
const schemaRef = "$schema=../../docs/schema/"

// Installed rewrites a YAML file's yaml-language-server modeline so that its
// schema path resolves where the package installs the schemas; a file
// without one is returned unchanged.
func Installed(yaml []byte) []byte {
	return []byte(strings.Replace(string(yaml), schemaRef, "$schema="+SchemaDir+"/", 1))
}

// configEdits turn the repository's example config into the installed one:
// flows next to the config, database and recordings in the state folder.
var configEdits = [][2]string{
	{"callflow validate --config examples/config/callflow.yaml", "callflow validate --config " + ConfigPath},
	{"callflow serve --config examples/config/callflow.yaml", "callflow serve --config " + ConfigPath},
	{"dir: ../flows ", "dir: flows    "},
	{"path: callflow.db ", "path: " + StateDir + "/callflow.db "},
	{"dir: media ", "dir: " + StateDir + "/media "},
}

// PackagedConfig returns the example config as installed to ConfigPath.
func PackagedConfig(example []byte) ([]byte, error) {
	text := string(example)
	for _, e := range configEdits {
		if !strings.Contains(text, e[0]) {
			return nil, fmt.Errorf("example config no longer contains %q; update packaging", e[0])
		}
		text = strings.Replace(text, e[0], e[1], 1)
	}
	return []byte(text), nil
}

// DebVersion makes a Debian upstream version from a git describe string:
// a leading v is dropped, a version not starting with a digit is prefixed
// with 0.0.0+git, and '-' becomes '+'.
func DebVersion(v string) string {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	if v == "" || v == "dev" {
		return "0.0.0+dev"
	}
	if v[0] < '0' || v[0] > '9' {
		v = "0.0.0+git" + v
	}
	return strings.ReplaceAll(v, "-", "+")
}

// Build writes the .deb into o.OutDir and returns its path.
func Build(o Options) (string, error) {
	if o.Arch == "" {
		o.Arch = runtime.GOARCH
	}
	tmp, err := os.MkdirTemp("", "callflow-deb-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)

	example, err := os.ReadFile(filepath.Join(o.Root, "examples/config/callflow.yaml"))
	if err != nil {
		return "", err
	}
	cfg, err := PackagedConfig(example)
	if err != nil {
		return "", err
	}
	cfg = Installed(cfg)
	cfgPath := filepath.Join(tmp, "config.yaml")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		return "", err
	}

	contents := files.Contents{
		{Source: o.Binary, Destination: BinPath, FileInfo: &files.ContentFileInfo{Mode: 0o755}},
		{Source: filepath.Join(o.Root, "deploy/systemd/callflow.service"), Destination: UnitPath, FileInfo: &files.ContentFileInfo{Mode: 0o644}},
		{Source: cfgPath, Destination: ConfigPath, Type: files.TypeConfigNoReplace, FileInfo: &files.ContentFileInfo{Mode: 0o644}},
		{Destination: FlowsDir, Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: 0o755}},
	}
	flows, err := filepath.Glob(filepath.Join(o.Root, "examples/flows/*.yaml"))
	if err != nil {
		return "", err
	}
	if len(flows) == 0 {
		return "", fmt.Errorf("no example flows under %s", filepath.Join(o.Root, "examples/flows"))
	}
	if err := os.Mkdir(filepath.Join(tmp, "flows"), 0o755); err != nil {
		return "", err
	}
	for _, f := range flows {
		text, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		src := filepath.Join(tmp, "flows", filepath.Base(f))
		if err := os.WriteFile(src, Installed(text), 0o644); err != nil {
			return "", err
		}
		contents = append(contents, &files.Content{
			Source: src, Destination: FlowsDir + "/" + filepath.Base(f),
			Type: files.TypeConfigNoReplace, FileInfo: &files.ContentFileInfo{Mode: 0o644},
		})
	}
	schemas, err := filepath.Glob(filepath.Join(o.Root, "docs/schema/*.schema.json"))
	if err != nil {
		return "", err
	}
	if len(schemas) == 0 {
		return "", fmt.Errorf("no schemas under %s", filepath.Join(o.Root, "docs/schema"))
	}
	for _, f := range schemas {
		contents = append(contents, &files.Content{
			Source: f, Destination: SchemaDir + "/" + filepath.Base(f),
			FileInfo: &files.ContentFileInfo{Mode: 0o644},
		})
	}

	scripts := filepath.Join(o.Root, "deploy/deb")
	info := nfpm.WithDefaults(&nfpm.Info{
		Name:          "callflow",
		Arch:          o.Arch,
		Platform:      "linux",
		Version:       DebVersion(o.Version),
		VersionSchema: "none",
		Section:       "net",
		Priority:      "optional",
		Maintainer:    "callflow maintainers <callflow@localhost>",
		Description: "contact-center call flows on Asterisk (ARI) and FreeSWITCH (ESL)\n" +
			"callflow runs IVR, queue and callback flows written in YAML against a\n" +
			"PBX, with an HTTP API, Prometheus metrics and a wallboard.",
		Homepage: "https://github.com/callflow/callflow",
		License:  "proprietary",
		Overridables: nfpm.Overridables{
			// The binary is built with cgo (SQLite) against glibc.
			Depends:  []string{"libc6", "adduser"},
			Contents: contents,
			Scripts: nfpm.Scripts{
				PostInstall: filepath.Join(scripts, "postinst"),
				PreRemove:   filepath.Join(scripts, "prerm"),
				PostRemove:  filepath.Join(scripts, "postrm"),
			},
		},
	})
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return "", err
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(o.OutDir, deb.Default.ConventionalFileName(info))
	f, err := os.Create(out)
	if err != nil {
		return "", err
	}
	if err := deb.Default.Package(info, f); err != nil {
		f.Close()
		os.Remove(out)
		return "", err
	}
	return out, f.Close()
}
