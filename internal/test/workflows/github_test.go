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

// The hosts gh talks to when GH_HOST=github.localhost (cli/cli's ghinstance: plain HTTP,
// REST at http://api.github.localhost/, GraphQL at /graphql), and the uploads host this
// stand-in names in upload_url, as GitHub names uploads.github.com. gh reaches both
// through HTTP_PROXY set to fakeGitHub.URL.
const (
	ghLocalHost = "github.localhost"
	ghAPIHost   = "api." + ghLocalHost
	ghUploads   = "uploads." + ghLocalHost
)

// fakeGitHub stands in for the parts of GitHub that gh (as scripts/publish-release runs
// it) and actions/_bin/run use, as the REST API (2022-11-28) and the GraphQL API
// document them:
//
//	GET    /repos/{o}/{r}/git/ref/tags/{tag}          the tag's ref (object type commit or tag)
//	GET    /repos/{o}/{r}/git/tags/{sha}              an annotated tag object
//	POST   /repos/{o}/{r}/git/refs                    create a ref (422 if it exists)
//	PATCH  /repos/{o}/{r}/git/refs/tags/{tag}         move a ref (force; 422 if it does not exist)
//	GET    /repos/{o}/{r}/tags                        tags with their commit SHAs
//	GET    /repos/{o}/{r}/releases/tags/{tag}         the published release of a tag, else 404 (also HEAD)
//	GET    /repos/{o}/{r}/releases/{id}               a release, drafts too
//	POST   /repos/{o}/{r}/releases                    create a release (422 if the tag has one)
//	PATCH  /repos/{o}/{r}/releases/{id}               update a release (publish a draft)
//	DELETE /repos/{o}/{r}/releases/{id}               delete a release
//	DELETE /repos/{o}/{r}/releases/assets/{id}        delete an asset (logged with its name)
//	POST   {upload_url}?name=<file>                   upload an asset (422 if the name exists)
//	POST   /graphql                                   repository.ref(qualifiedName) and
//	                                                  repository.release(tagName), drafts too
//	GET    /{o}/{r}/releases/download/{tag}/{file}    the download the fetcher uses
//
// gh reaches it as a proxy for its hosts, the fetcher directly at URL. The API calls need
// the token (except the tags list, which the fetcher may call without one). Any other
// request fails the test.
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
	log        []string // "METHOD path" of every request; uploads add ?name=<file>
	refStatus  int      // when set, creating or moving a ref answers this status
	refuse     string   // the name of an asset whose upload GitHub refuses (422)
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
	ID    int
	Name  string
	Body  []byte
	Draft bool // the release was a draft when the asset was uploaded
	// Exposed: the release was published with a checksums.txt when this asset was
	// uploaded, so the fetcher could have taken it for whole while it was half-replaced.
	Exposed bool
}

func newFakeGitHub(t *testing.T, repo, token string) *fakeGitHub {
	t.Helper()
	g := &fakeGitHub{repo: repo, token: token, t: t, refs: map[string]string{}, tagObjects: map[string]string{}, nextID: 100}
	srv := httptest.NewServer(g.routes())
	t.Cleanup(srv.Close)
	g.URL = srv.URL
	return g
}

func (g *fakeGitHub) requests() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.log...)
}

// writes lists the requests that change something (GraphQL queries do not).
func (g *fakeGitHub) writes() []string {
	var out []string
	for _, r := range g.requests() {
		if !strings.HasPrefix(r, "GET ") && !strings.HasPrefix(r, "HEAD ") && r != "POST /graphql" {
			out = append(out, r)
		}
	}
	return out
}

// releaseOf is the release of tag, drafts too (nil if none).
func (g *fakeGitHub) releaseOf(tag string) *fakeRelease {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.release(tag, true)
}

func (g *fakeGitHub) ref(tag string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.refs[tag]
}

func (g *fakeGitHub) releaseJSON(r *fakeRelease) map[string]any {
	api := fmt.Sprintf("http://%s/repos/%s/releases/%d", ghAPIHost, g.repo, r.ID)
	assets := []map[string]any{}
	for _, a := range r.Assets {
		assets = append(assets, map[string]any{"id": a.ID, "name": a.Name, "size": len(a.Body), "state": "uploaded",
			"url": fmt.Sprintf("http://%s/repos/%s/releases/assets/%d", ghAPIHost, g.repo, a.ID)})
	}
	return map[string]any{
		"id": r.ID, "tag_name": r.Tag, "name": r.Name, "prerelease": r.Prerelease, "draft": r.Draft,
		"immutable": g.immutable && !r.Draft, "url": api, "assets": assets,
		"html_url":   fmt.Sprintf("%s/%s/releases/tag/%s", g.URL, g.repo, r.Tag),
		"upload_url": fmt.Sprintf("http://%s/repos/%s/releases/%d/assets{?name,label}", ghUploads, g.repo, r.ID),
	}
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// routes serves the documented endpoints (a GET pattern answers HEAD too), logging every
// request and holding the lock while it is answered.
func (g *fakeGitHub) routes() http.Handler {
	mux := http.NewServeMux()
	api, notFound := "/repos/"+g.repo, map[string]string{"message": "Not Found"}
	handle := func(pattern string, public bool, h func(w http.ResponseWriter, r *http.Request)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			// gh sends "token <t>"; GitHub takes "Bearer <t>" as well.
			if got := r.Header.Get("Authorization"); !public && got != "token "+g.token && got != "Bearer "+g.token {
				g.t.Errorf("%s %s without the token (Authorization %q)", r.Method, r.URL.Path, got)
				reply(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials"})
				return
			}
			h(w, r)
		})
	}

	// The fetcher's download (published releases only) and tags list.
	handle("GET /"+g.repo+"/releases/download/{tag}/{file}", true, func(w http.ResponseWriter, r *http.Request) {
		if rel := g.release(r.PathValue("tag"), false); rel != nil {
			if a := rel.asset(r.PathValue("file")); a != nil {
				_, _ = w.Write(a.Body)
				return
			}
		}
		http.NotFound(w, r)
	})
	handle("GET "+api+"/tags", true, func(w http.ResponseWriter, r *http.Request) {
		commits := map[string]string{} // an annotated tag lists its commit
		for n, sha := range g.refs {
			if c, ok := g.tagObjects[sha]; ok {
				sha = c
			}
			commits[n] = sha
		}
		serveTags(w, r, commits)
	})

	handle("GET "+api+"/git/ref/tags/{tag}", false, func(w http.ResponseWriter, r *http.Request) {
		sha, ok := g.refs[r.PathValue("tag")]
		if !ok {
			reply(w, http.StatusNotFound, notFound)
			return
		}
		typ := "commit"
		if _, ok := g.tagObjects[sha]; ok {
			typ = "tag"
		}
		reply(w, http.StatusOK, map[string]any{"ref": "refs/tags/" + r.PathValue("tag"), "object": map[string]string{"sha": sha, "type": typ}})
	})
	handle("GET "+api+"/git/tags/{sha}", false, func(w http.ResponseWriter, r *http.Request) {
		commit, ok := g.tagObjects[r.PathValue("sha")]
		if !ok {
			reply(w, http.StatusNotFound, notFound)
			return
		}
		reply(w, http.StatusOK, map[string]any{"object": map[string]string{"sha": commit, "type": "commit"}})
	})
	handle("POST "+api+"/git/refs", false, g.writeRef)
	handle("PATCH "+api+"/git/refs/tags/{tag}", false, g.writeRef)

	handle("GET "+api+"/releases/tags/{tag}", false, func(w http.ResponseWriter, r *http.Request) {
		if rel := g.release(r.PathValue("tag"), false); rel != nil {
			reply(w, http.StatusOK, g.releaseJSON(rel))
			return
		}
		reply(w, http.StatusNotFound, notFound)
	})
	handle("POST "+api+"/releases", false, g.createRelease)
	handle("GET "+api+"/releases/{id}", false, func(w http.ResponseWriter, r *http.Request) {
		if rel := g.releaseByID(r.PathValue("id")); rel != nil {
			reply(w, http.StatusOK, g.releaseJSON(rel))
			return
		}
		reply(w, http.StatusNotFound, notFound)
	})
	handle("PATCH "+api+"/releases/{id}", false, func(w http.ResponseWriter, r *http.Request) {
		if rel := g.releaseByID(r.PathValue("id")); rel != nil {
			g.updateRelease(w, r, rel)
			return
		}
		reply(w, http.StatusNotFound, notFound)
	})
	handle("DELETE "+api+"/releases/{id}", false, func(w http.ResponseWriter, r *http.Request) {
		for i, rel := range g.releases {
			if strconv.Itoa(rel.ID) == r.PathValue("id") {
				g.releases = append(g.releases[:i], g.releases[i+1:]...)
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		reply(w, http.StatusNotFound, notFound)
	})
	handle("DELETE "+api+"/releases/assets/{id}", false, func(w http.ResponseWriter, r *http.Request) {
		for _, rel := range g.releases {
			for i, a := range rel.Assets {
				if strconv.Itoa(a.ID) != r.PathValue("id") {
					continue
				}
				g.log[len(g.log)-1] += " (" + a.Name + ")"
				if g.immutable && !rel.Draft {
					reply(w, http.StatusUnprocessableEntity, map[string]string{"message": "Cannot modify an immutable release"})
					return
				}
				rel.Assets = append(rel.Assets[:i], rel.Assets[i+1:]...)
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		reply(w, http.StatusNotFound, notFound)
	})
	handle("POST "+ghUploads+api+"/releases/{id}/assets", false, g.upload)
	handle("POST "+ghAPIHost+"/graphql", false, g.graphql)

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		defer g.mu.Unlock()
		entry := r.Method + " " + r.URL.Path
		if r.Host == ghUploads {
			entry += "?name=" + r.URL.Query().Get("name")
		}
		g.log = append(g.log, entry)
		if _, pattern := mux.Handler(r); pattern == "" {
			g.t.Errorf("unexpected request %s %s%s", r.Method, r.Host, r.URL.Path)
		}
		mux.ServeHTTP(w, r)
	})
}

// release is the release of tag (a draft only if drafts); the lock is held.
func (g *fakeGitHub) release(tag string, drafts bool) *fakeRelease {
	for _, r := range g.releases {
		if r.Tag == tag && (drafts || !r.Draft) {
			return r
		}
	}
	return nil
}

func (g *fakeGitHub) releaseByID(id string) *fakeRelease {
	for _, r := range g.releases {
		if strconv.Itoa(r.ID) == id {
			return r
		}
	}
	return nil
}

func (r *fakeRelease) asset(name string) *fakeAsset {
	for _, a := range r.Assets {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// graphql answers the two queries gh sends about releases: RepositoryFindRef
// (`release create --verify-tag`) and RepositoryReleaseByTag (finding a draft).
func (g *fakeGitHub) graphql(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Query     string            `json:"query"`
		Variables map[string]string `json:"variables"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		g.t.Errorf("POST /graphql: %v", err)
	}
	if in.Variables["owner"]+"/"+in.Variables["name"] != g.repo {
		g.t.Errorf("GraphQL query for repository %s/%s", in.Variables["owner"], in.Variables["name"])
	}
	repo := map[string]any{}
	switch {
	case strings.HasPrefix(in.Query, "query RepositoryFindRef("):
		repo["ref"] = nil
		if _, ok := g.refs[strings.TrimPrefix(in.Variables["tagName"], "refs/tags/")]; ok {
			repo["ref"] = map[string]string{"id": "REF_" + in.Variables["tagName"]}
		}
	case strings.HasPrefix(in.Query, "query RepositoryReleaseByTag("):
		repo["release"] = nil
		if rel := g.release(in.Variables["tagName"], true); rel != nil {
			repo["release"] = map[string]any{"databaseId": rel.ID, "isDraft": rel.Draft}
		}
	default:
		g.t.Errorf("unexpected GraphQL query %q", in.Query)
	}
	reply(w, http.StatusOK, map[string]any{"data": map[string]any{"repository": repo}})
}

func (g *fakeGitHub) writeRef(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Ref   string `json:"ref"`
		SHA   string `json:"sha"`
		Force bool   `json:"force"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		g.t.Errorf("%s %s: %v", r.Method, r.URL.Path, err)
	}
	if g.refStatus != 0 {
		reply(w, g.refStatus, map[string]string{"message": "Resource not accessible by integration"})
		return
	}
	tag, status := r.PathValue("tag"), http.StatusOK
	if r.Method == http.MethodPost {
		tag, status = strings.TrimPrefix(in.Ref, "refs/tags/"), http.StatusCreated
	}
	_, exists := g.refs[tag]
	switch {
	case r.Method == http.MethodPost && exists:
		reply(w, http.StatusUnprocessableEntity, map[string]string{"message": "Reference already exists"})
		return
	case r.Method == http.MethodPatch && !exists:
		reply(w, http.StatusUnprocessableEntity, map[string]string{"message": "Reference does not exist"})
		return
	case r.Method == http.MethodPatch && !in.Force:
		g.t.Errorf("PATCH of tag %s without force: %+v", tag, in)
	}
	g.refs[tag] = in.SHA
	reply(w, status, map[string]any{"ref": "refs/tags/" + tag, "object": map[string]string{"sha": in.SHA, "type": "commit"}})
}

func (g *fakeGitHub) createRelease(w http.ResponseWriter, r *http.Request) {
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
	if _, ok := g.refs[in.Tag]; !ok || in.Target != "" {
		// GitHub would create the tag from the default branch or the target: never wanted here.
		g.t.Errorf("release created for tag %s (exists %v, target %q)", in.Tag, ok, in.Target)
	}
	if g.release(in.Tag, true) != nil {
		reply(w, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed", "errors": []map[string]string{{"resource": "Release", "code": "already_exists", "field": "tag_name"}}})
		return
	}
	g.nextID++
	rel := &fakeRelease{ID: g.nextID, Tag: in.Tag, Name: in.Name, Prerelease: in.Prerelease, Draft: in.Draft, GenerateNotes: in.GenerateNotes, MakeLatest: in.MakeLatest}
	g.releases = append(g.releases, rel)
	reply(w, http.StatusCreated, g.releaseJSON(rel))
}

func (g *fakeGitHub) updateRelease(w http.ResponseWriter, r *http.Request, rel *fakeRelease) {
	var in struct {
		Tag        string `json:"tag_name"`
		Draft      *bool  `json:"draft"`
		MakeLatest string `json:"make_latest"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		g.t.Errorf("PATCH release %d: %v", rel.ID, err)
	}
	if in.Tag != "" && in.Tag != rel.Tag {
		g.t.Errorf("PATCH release %d moves it from tag %s to %s", rel.ID, rel.Tag, in.Tag)
	}
	if in.Draft != nil {
		rel.Draft = *in.Draft
	}
	if in.MakeLatest != "" {
		rel.MakeLatest = in.MakeLatest
	}
	reply(w, http.StatusOK, g.releaseJSON(rel))
}

func (g *fakeGitHub) upload(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	body, err := io.ReadAll(r.Body)
	if err != nil {
		g.t.Error(err)
	}
	rel := g.releaseByID(r.PathValue("id"))
	switch {
	case rel == nil:
		reply(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
	case g.immutable && !rel.Draft:
		reply(w, http.StatusUnprocessableEntity, map[string]string{"message": "Cannot modify an immutable release"})
	case rel.asset(name) != nil || name == g.refuse:
		reply(w, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed", "errors": []map[string]string{{"resource": "ReleaseAsset", "code": "already_exists", "field": "name"}}})
	default:
		g.nextID++
		a := &fakeAsset{ID: g.nextID, Name: name, Body: body, Draft: rel.Draft,
			Exposed: !rel.Draft && rel.asset("checksums.txt") != nil}
		rel.Assets = append(rel.Assets, a)
		reply(w, http.StatusCreated, map[string]any{"id": a.ID, "name": a.Name, "size": len(a.Body)})
	}
}
