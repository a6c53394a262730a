package media

import (
	"errors"
	"mime"
	"net/http"
	"strings"
)

// ServeHTTP serves one recording with its Content-Type, supporting HEAD,
// Range and If-Modified-Since requests. The name is the request's "name"
// path value when the handler is mounted with a pattern such as
// "GET /recordings/{name}", else the whole remaining URL path (mount it
// under http.StripPrefix). A trailing ".FORMAT" matching the stored format
// is accepted. Authentication is the caller's business.
func (s *Store) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := r.PathValue("name")
	if name == "" {
		name = strings.TrimPrefix(r.URL.Path, "/")
	}
	name, wantFormat := s.splitRequested(name)
	if err := ValidateName(name); err != nil {
		http.Error(w, "invalid recording name", http.StatusBadRequest)
		return
	}
	f, info, err := s.open(name)
	if errors.Is(err, ErrNotFound) {
		http.Error(w, "recording not found", http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, "cannot open recording", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	if wantFormat != "" && wantFormat != info.Format {
		http.Error(w, "recording not found", http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Type", info.ContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": info.Name + "." + info.Format}))
	h.Set("Cache-Control", "private, max-age=0")
	http.ServeContent(w, r, "", info.Created, f)
}

// splitRequested strips a known format extension from a requested name
// when the name without it is valid: "rec-1.wav" asks for "rec-1" as WAV.
// A name that is stored with its dot ("rec-1.wav" in format gsm) still
// resolves, because the stored name is tried first.
func (s *Store) splitRequested(req string) (name, format string) {
	if ValidateName(req) != nil {
		return req, ""
	}
	if _, err := s.find(req); err == nil {
		return req, ""
	}
	i := strings.LastIndexByte(req, '.')
	if i <= 0 || validateFormat(req[i+1:]) != nil {
		return req, ""
	}
	return req[:i], req[i+1:]
}
