package deploy

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// loopbackRoutes points the rendered routes (one per node, in order) at the loopback
// route ports, keeping their credentials, and leaves out node self.
func loopbackRoutes(rendered []*url.URL, ports []int, self int) []*url.URL {
	var out []*url.URL
	for j, r := range rendered {
		if j != self {
			u := *r
			u.Host = fmt.Sprintf("127.0.0.1:%d", ports[j])
			out = append(out, &u)
		}
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestKEDAFindsConsumerLeader runs the production overlay's 3-node JetStream cluster
// (the chart's nats.conf, with loopback ports standing in for pod DNS) and follows the
// steps KEDA's nats-jetstream scaler takes on a cluster: /varz of the monitoring
// endpoint lists every node's advertised client URL; each node's /varz gives its server
// name; the node whose /jsz names itself the consumer's leader is the one to read lag
// from. The chart must make those names line up: server_name is the pod name and each
// node advertises <pod>.<headless service>.
func TestKEDAFindsConsumerLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node NATS cluster")
	}
	conf := renderedNATSConf(t, []string{"values-production.yaml"})
	dir := t.TempDir()
	path := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	const n = 3
	routes, monitor := make([]int, n), map[string]int{} // advertised host -> monitor port
	for i := range routes {
		routes[i] = freePort(t)
	}
	var servers []*server.Server
	for i := 0; i < n; i++ {
		pod := fmt.Sprintf("daedalus-nats-%d", i)
		setEnv(t, natsPodEnv(t, []string{"values-production.yaml"}, pod, testSecrets))
		opts, err := server.ProcessConfigFile(path)
		if err != nil {
			t.Fatal(err)
		}
		host := strings.Split(opts.ClientAdvertise, ":")[0]
		// Loopback stands in for the pods' addresses; the advertised names stay as rendered.
		opts.Host, opts.Port, opts.HTTPHost, opts.HTTPPort = "127.0.0.1", -1, "127.0.0.1", freePort(t)
		opts.Cluster.Host, opts.Cluster.Port = "127.0.0.1", routes[i]
		opts.Routes = loopbackRoutes(opts.Routes, routes, i)
		opts.StoreDir, opts.PidFile = filepath.Join(dir, pod), ""
		monitor[host] = opts.HTTPPort
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		t.Cleanup(s.Shutdown)
		servers = append(servers, s)
	}
	for _, s := range servers {
		if !s.ReadyForConnections(20 * time.Second) {
			t.Fatal("NATS node not ready")
		}
	}

	// What the bootstrap hook does: a stream with 3 replicas and the worker's consumer.
	nc, err := nats.Connect(servers[0].ClientURL(), nats.UserInfo("daedalus", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "AGENT_TASKS", Subjects: []string{"agent.tasks.>"}, Replicas: 3, Storage: jetstream.FileStorage})
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond) // the meta leader is still being elected
	}
	if err != nil {
		t.Fatalf("creating the R3 stream: %v", err)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, "AGENT_TASKS", jetstream.ConsumerConfig{Durable: "copilot", FilterSubject: "agent.tasks.copilot", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "agent.tasks.copilot", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}

	get := func(port int, path string, out any) {
		t.Helper()
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	var varz struct {
		ConnectURLs []string `json:"connect_urls"`
		ServerName  string   `json:"server_name"`
	}
	var leaders []string
	deadline = time.Now().Add(20 * time.Second)
	for {
		leaders = nil
		get(monitor[strings.Split(advertised(t, "daedalus-nats-0"), ":")[0]], "/varz", &varz)
		for _, u := range varz.ConnectURLs {
			host := strings.Split(u, ":")[0]
			port, ok := monitor[host]
			if !ok {
				t.Fatalf("connect URL %s is not a node's advertised name (%v)", u, monitor)
			}
			var node struct {
				ServerName string `json:"server_name"`
			}
			get(port, "/varz", &node)
			var jsz struct {
				Accounts []struct {
					Name    string `json:"name"`
					Streams []struct {
						Name      string `json:"name"`
						Consumers []struct {
							Name    string `json:"name"`
							Pending int    `json:"num_pending"`
							Cluster struct {
								Leader string `json:"leader"`
							} `json:"cluster"`
						} `json:"consumer_detail"`
					} `json:"stream_detail"`
				} `json:"account_details"`
			}
			get(port, "/jsz?acc=$G&consumers=true&config=true", &jsz)
			for _, a := range jsz.Accounts {
				for _, s := range a.Streams {
					for _, c := range s.Consumers {
						if a.Name == "$G" && s.Name == "AGENT_TASKS" && c.Name == "copilot" && c.Cluster.Leader == node.ServerName && c.Pending == 1 {
							leaders = append(leaders, node.ServerName)
						}
					}
				}
			}
		}
		if len(varz.ConnectURLs) == n && len(leaders) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if len(varz.ConnectURLs) != n || len(leaders) != 1 {
		t.Fatalf("connect_urls %v, nodes reporting themselves the consumer leader with lag 1: %v; want 3 URLs and exactly one leader", varz.ConnectURLs, leaders)
	}
	if !strings.HasPrefix(leaders[0], "daedalus-nats-") {
		t.Errorf("leader %q is not a pod name", leaders[0])
	}
}

// TestNATSRoutesRefuseRogueServer reproduces the route attack on the production
// overlay's cluster config: two nodes run the chart's nats.conf (loopback ports for pod
// DNS), then a rogue nats-server that knows the route port but not the route
// credentials routes in and subscribes to the copilot worker's tasks. The nodes must
// route to each other and refuse the rogue, so a task published to the cluster never
// reaches it.
func TestNATSRoutesRefuseRogueServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three NATS servers")
	}
	conf := renderedNATSConf(t, []string{"values-production.yaml"})
	dir := t.TempDir()
	path := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	ports := []int{freePort(t), freePort(t), freePort(t)}
	start := func(opts *server.Options) *server.Server {
		t.Helper()
		opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", -1, 0
		opts.PidFile, opts.NoLog, opts.NoSigs = "", true, true
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		t.Cleanup(s.Shutdown)
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatal("NATS server not ready")
		}
		return s
	}
	var nodes []*server.Server
	for i := 0; i < 2; i++ {
		pod := fmt.Sprintf("daedalus-nats-%d", i)
		setEnv(t, natsPodEnv(t, []string{"values-production.yaml"}, pod, testSecrets))
		opts, err := server.ProcessConfigFile(path)
		if err != nil {
			t.Fatal(err)
		}
		opts.Cluster.Host, opts.Cluster.Port = "127.0.0.1", ports[i]
		opts.Routes = loopbackRoutes(opts.Routes[:2], ports, i)
		opts.JetStream, opts.StoreDir = false, filepath.Join(dir, pod)
		nodes = append(nodes, start(opts))
	}
	waitFor(t, 10*time.Second, "the two nodes to route to each other", func() bool {
		return nodes[0].NumRoutes() > 0 && nodes[1].NumRoutes() > 0
	})

	// The rogue: same cluster name, a route to node 0 with no credentials.
	rogue := start(&server.Options{
		ServerName: "rogue",
		Cluster:    server.ClusterOpts{Name: "daedalus-nats", Host: "127.0.0.1", Port: ports[2]},
		Routes:     []*url.URL{{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", ports[0])}},
	})
	spy, err := nats.Connect(rogue.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer spy.Close()
	stolen, err := spy.SubscribeSync("agent.tasks.copilot")
	if err != nil {
		t.Fatal(err)
	}
	if err := spy.Flush(); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(nodes[0].ClientURL(), nats.UserInfo("daedalus", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// node 0 lists a route once it has accepted the peer's CONNECT (the rogue itself counts
	// a route as soon as it has dialled, before node 0 checks it).
	routedIn := func() bool {
		rz, err := nodes[0].Routez(nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rz.Routes {
			if r.RemoteName != "daedalus-nats-1" {
				return true
			}
		}
		return false
	}
	// The route handshake and the nodes' authorization timeout (2 s) both fit in this.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if routedIn() {
			t.Fatalf("a server without the route credentials routed in (node 0 has %d routes)", nodes[0].NumRoutes())
		}
		if err := nc.Publish("agent.tasks.copilot", []byte(`{"secret":"task"}`)); err != nil {
			t.Fatal(err)
		}
		if msg, err := stolen.NextMsg(100 * time.Millisecond); err == nil {
			t.Fatalf("the rogue server read a task: %s", msg.Data)
		}
	}
	if nodes[0].NumRoutes() == 0 {
		t.Error("node 0 lost its route to node 1")
	}
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
