package workflows

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeGitHub stands in for the parts of GitHub that scripts/publish-release and
// actions/_bin/run use, as the REST API (2022-11-28) documents them:
//
//	GET    /repos/{o}/{r}/git/ref/tags/{tag}          the tag's ref (object type commit or tag)
//	GET    /repos/{o}/{r}/git/tags/{sha}              an annotated tag object
//	POST   /repos/{o}/{r}/git/refs                    create a ref
//	PATCH  /repos/{o}/{r}/git/refs/tags/{tag}         move a ref (force)
//	GET    /repos/{o}/{r}/tags                        tags with their commit SHAs
//	GET    /repos/{o}/{r}/releases/tags/{tag}         the published release of a tag, else 404
//	POST   /repos/{o}/{r}/releases                    create a release (422 if the tag has one)
//	PATCH  /repos/{o}/{r}/releases/{id}               update a release (publish a draft)
//	GET    /repos/{o}/{r}/releases/{id}/assets        its assets
//	DELETE /repos/{o}/{r}/releases/assets/{id}        delete an asset
//	POST   {upload_url}?name=<file>                   upload an asset (422 if the name exists)
//	GET    /{o}/{r}/releases/download/{tag}/{file}    the download the fetcher uses
//
// The API calls need the token (except the tags list, which the fetcher may call without
// one). Any other request fails the test.
type fakeGitHub struct {
	URL   string
	repo  string
	token string
	t     *testing.T

	mu         sync.Mutex
	refs       map[string]string // tag → the SHA its ref points at (a commit, or a tag object)
	tagObjects map[string]string // annotated tag object SHA → commit SHA
	releases   []*fakeRelease
	nextID     int
	log        []string // "METHOD path" of every request
	refStatus  int      // when set, creating or moving a ref answers this status
	// immutable: the repository has immutable releases on, so a published release's
	// assets cannot be uploaded or deleted (422), as GitHub documents.
	immutable bool
}

type fakeRelease struct {
	ID            int
	Tag           string
	Name          string
	Prerelease    bool
	Draft         bool
	GenerateNotes bool
	MakeLatest    string
	Assets        []*fakeAsset
}

type fakeAsset struct {
	ID          int
	Name        string
	ContentType string
	Body        []byte
}

func newFakeGitHub(t *testing.T, repo, token string) *fakeGitHub {
	t.Helper()
	g := &fakeGitHub{repo: repo, token: token, t: t, refs: map[string]string{}, tagObjects: map[string]string{}, nextID: 100}
	srv := httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(srv.Close)
	g.URL = srv.URL
	return g
}

func (g *fakeGitHub) requests() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.log...)
}

// writes lists the requests that change something.
func (g *fakeGitHub) writes() []string {
	var out []string
	for _, r := range g.requests() {
		if !strings.HasPrefix(r, "GET ") {
			out = append(out, r)
		}
	}
	return out
}

func (g *fakeGitHub) release(tag string) *fakeRelease {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range g.releases {
		if r.Tag == tag {
			return r
		}
	}
	return nil
}

func (g *fakeGitHub) ref(tag string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.refs[tag]
}

func (g *fakeGitHub) releaseJSON(r *fakeRelease) map[string]any {
	return map[string]any{
		"id": r.ID, "tag_name": r.Tag, "name": r.Name, "prerelease": r.Prerelease, "draft": r.Draft,
		"html_url":   fmt.Sprintf("%s/%s/releases/tag/%s", g.URL, g.repo, r.Tag),
		"upload_url": fmt.Sprintf("%s/uploads/repos/%s/releases/%d/assets{?name,label}", g.URL, g.repo, r.ID),
		"assets":     g.assetsJSON(r),
	}
}

func (g *fakeGitHub) assetsJSON(r *fakeRelease) []map[string]any {
	out := []map[string]any{}
	for _, a := range r.Assets {
		out = append(out, map[string]any{"id": a.ID, "name": a.Name, "size": len(a.Body), "content_type": a.ContentType})
	}
	return out
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (g *fakeGitHub) serve(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.log = append(g.log, r.Method+" "+r.URL.Path)
	api := "/repos/" + g.repo + "/"
	notFound := map[string]string{"message": "Not Found"}

	// The fetcher's download and tags list.
	if r.Method == http.MethodGet {
		if rest, ok := strings.CutPrefix(r.URL.Path, "/"+g.repo+"/releases/download/"); ok {
			tag, name, _ := strings.Cut(rest, "/")
			for _, rel := range g.releases {
				if rel.Tag != tag || rel.Draft {
					continue
				}
				for _, a := range rel.Assets {
					if a.Name == name {
						_, _ = w.Write(a.Body)
						return
					}
				}
			}
			http.NotFound(w, r)
			return
		}
		if r.URL.Path == api+"tags" {
			commits := map[string]string{} // an annotated tag lists its commit
			for n, sha := range g.refs {
				if c, ok := g.tagObjects[sha]; ok {
					sha = c
				}
				commits[n] = sha
			}
			serveTags(w, r, commits)
			return
		}
	}

	if got := r.Header.Get("Authorization"); got != "Bearer "+g.token {
		g.t.Errorf("%s %s without the token (Authorization %q)", r.Method, r.URL.Path, got)
		reply(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials"})
		return
	}
	if rest, ok := strings.CutPrefix(r.URL.Path, "/uploads"+api+"releases/"); ok && r.Method == http.MethodPost {
		id, _ := strconv.Atoi(strings.TrimSuffix(rest, "/assets"))
		name := r.URL.Query().Get("name")
		body, err := io.ReadAll(r.Body)
		if err != nil {
			g.t.Error(err)
		}
		for _, rel := range g.releases {
			if rel.ID != id {
				continue
			}
			if g.immutable && !rel.Draft {
				reply(w, http.StatusUnprocessableEntity, map[string]string{"message": "Cannot modify an immutable release"})
				return
			}
			for _, a := range rel.Assets {
				if a.Name == name {
					reply(w, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed", "errors": []map[string]string{{"resource": "ReleaseAsset", "code": "already_exists", "field": "name"}}})
					return
				}
			}
			g.nextID++
			a := &fakeAsset{ID: g.nextID, Name: name, ContentType: r.Header.Get("Content-Type"), Body: body}
			rel.Assets = append(rel.Assets, a)
			reply(w, http.StatusCreated, map[string]any{"id": a.ID, "name": a.Name, "size": len(a.Body)})
			return
		}
		reply(w, http.StatusNotFound, notFound)
		return
	}
	path, ok := strings.CutPrefix(r.URL.Path, api)
	if !ok {
		g.t.Errorf("unexpected request %s %s", r.Method, r.URL)
		reply(w, http.StatusNotFound, notFound)
		return
	}
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(path, "git/ref/tags/"):
		tag := strings.TrimPrefix(path, "git/ref/tags/")
		sha, ok := g.refs[tag]
		if !ok {
			reply(w, http.StatusNotFound, notFound)
			return
		}
		typ := "commit"
		if _, ok := g.tagObjects[sha]; ok {
			typ = "tag"
		}
		reply(w, http.StatusOK, map[string]any{"ref": "refs/tags/" + tag, "object": map[string]string{"sha": sha, "type": typ}})
	case r.Method == http.MethodGet && strings.HasPrefix(path, "git/tags/"):
		commit, ok := g.tagObjects[strings.TrimPrefix(path, "git/tags/")]
		if !ok {
			reply(w, http.StatusNotFound, notFound)
			return
		}
		reply(w, http.StatusOK, map[string]any{"object": map[string]string{"sha": commit, "type": "commit"}})
	case r.Method == http.MethodPost && path == "git/refs", r.Method == http.MethodPatch && strings.HasPrefix(path, "git/refs/tags/"):
		var in struct {
			Ref   string `json:"ref"`
			SHA   string `json:"sha"`
			Force bool   `json:"force"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			g.t.Errorf("%s %s: %v", r.Method, path, err)
		}
		if g.refStatus != 0 {
			reply(w, g.refStatus, map[string]string{"message": "Resource not accessible by integration"})
			return
		}
		tag := strings.TrimPrefix(path, "git/refs/tags/")
		status := http.StatusOK
		if r.Method == http.MethodPost {
			tag, status = strings.TrimPrefix(in.Ref, "refs/tags/"), http.StatusCreated
			if _, exists := g.refs[tag]; exists {
				reply(w, http.StatusUnprocessableEntity, map[string]string{"message": "Reference already exists"})
				return
			}
		} else if _, exists := g.refs[tag]; !exists || !in.Force {
			g.t.Errorf("PATCH of tag %s (exists %v) without force: %+v", tag, exists, in)
		}
		g.refs[tag] = in.SHA
		reply(w, status, map[string]any{"ref": "refs/tags/" + tag, "object": map[string]string{"sha": in.SHA, "type": "commit"}})
	case r.Method == http.MethodGet && strings.HasPrefix(path, "releases/tags/"):
		tag := strings.TrimPrefix(path, "releases/tags/")
		for _, rel := range g.releases {
			if rel.Tag == tag && !rel.Draft {
				reply(w, http.StatusOK, g.releaseJSON(rel))
				return
			}
		}
		reply(w, http.StatusNotFound, notFound)
	case r.Method == http.MethodPost && path == "releases":
		var in struct {
			Tag           string `json:"tag_name"`
			Name          string `json:"name"`
			Prerelease    bool   `json:"prerelease"`
			Draft         bool   `json:"draft"`
			GenerateNotes bool   `json:"generate_release_notes"`
			MakeLatest    string `json:"make_latest"`
			Target        string `json:"target_commitish"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			g.t.Errorf("POST releases: %v", err)
		}
		if _, ok := g.refs[in.Tag]; !ok {
			// GitHub would create the tag from the default branch: never wanted here.
			g.t.Errorf("release created for tag %s, which does not exist", in.Tag)
		}
		for _, rel := range g.releases {
			if rel.Tag == in.Tag {
				reply(w, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed", "errors": []map[string]string{{"resource": "Release", "code": "already_exists", "field": "tag_name"}}})
				return
			}
		}
		g.nextID++
		rel := &fakeRelease{ID: g.nextID, Tag: in.Tag, Name: in.Name, Prerelease: in.Prerelease, Draft: in.Draft, GenerateNotes: in.GenerateNotes, MakeLatest: in.MakeLatest}
		g.releases = append(g.releases, rel)
		reply(w, http.StatusCreated, g.releaseJSON(rel))
	case r.Method == http.MethodPatch && strings.HasPrefix(path, "releases/"):
		id, _ := strconv.Atoi(strings.TrimPrefix(path, "releases/"))
		var in struct {
			Draft      *bool  `json:"draft"`
			MakeLatest string `json:"make_latest"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			g.t.Errorf("PATCH %s: %v", path, err)
		}
		for _, rel := range g.releases {
			if rel.ID != id {
				continue
			}
			if in.Draft != nil {
				rel.Draft = *in.Draft
			}
			if in.MakeLatest != "" {
				rel.MakeLatest = in.MakeLatest
			}
			reply(w, http.StatusOK, g.releaseJSON(rel))
			return
		}
		reply(w, http.StatusNotFound, notFound)
	case r.Method == http.MethodGet && strings.HasPrefix(path, "releases/") && strings.HasSuffix(path, "/assets"):
		id, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(path, "releases/"), "/assets"))
		for _, rel := range g.releases {
			if rel.ID == id {
				reply(w, http.StatusOK, g.assetsJSON(rel))
				return
			}
		}
		reply(w, http.StatusNotFound, notFound)
	case r.Method == http.MethodDelete && strings.HasPrefix(path, "releases/assets/"):
		id, _ := strconv.Atoi(strings.TrimPrefix(path, "releases/assets/"))
		for _, rel := range g.releases {
			for i, a := range rel.Assets {
				if a.ID == id {
					if g.immutable && !rel.Draft {
						reply(w, http.StatusUnprocessableEntity, map[string]string{"message": "Cannot modify an immutable release"})
						return
					}
					rel.Assets = append(rel.Assets[:i], rel.Assets[i+1:]...)
					w.WriteHeader(http.StatusNoContent)
					return
				}
			}
		}
		reply(w, http.StatusNotFound, notFound)
	default:
		g.t.Errorf("unexpected request %s %s", r.Method, r.URL)
		reply(w, http.StatusNotFound, notFound)
	}
}
