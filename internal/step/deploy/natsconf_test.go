package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// renderedNATSConf renders the chart and returns the nats.conf of its ConfigMap.
func renderedNATSConf(t *testing.T, files []string) string {
	t.Helper()
	_, _, rel := renderChart(t, files, nil, "daedalus")
	for _, doc := range strings.Split(rel.Manifest, "\n---") {
		if !strings.Contains(doc, "kind: ConfigMap") {
			continue
		}
		var cm corev1.ConfigMap
		if err := yaml.Unmarshal([]byte(doc), &cm); err != nil {
			t.Fatal(err)
		}
		if c, ok := cm.Data["nats.conf"]; ok {
			return c
		}
	}
	t.Fatal("no nats.conf in the render")
	return ""
}

// TestNATSConfigRuns loads the chart's nats.conf into a real NATS server (the one the
// StatefulSet runs) with the environment the pod gives it, and checks that clients need
// the generated credentials.
func TestNATSConfigRuns(t *testing.T) {
	conf := renderedNATSConf(t, nil)
	path := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("POD_NAME", "daedalus-nats-0")
	t.Setenv("NATS_USER", "daedalus")
	t.Setenv("NATS_PASSWORD", "s3cret-generated")
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("nats-server rejects the chart's config: %v\n%s", err, conf)
	}
	if opts.ServerName != "daedalus-nats-0" || !opts.JetStream || opts.StoreDir != "/data" || opts.HTTPPort != 8222 {
		t.Errorf("options: name %q jetstream %v store %q monitor %d", opts.ServerName, opts.JetStream, opts.StoreDir, opts.HTTPPort)
	}
	if opts.Username != "daedalus" || opts.Password != "s3cret-generated" {
		t.Errorf("auth from the environment: user %q password %q", opts.Username, opts.Password)
	}
	// Run it on loopback ports with a temporary store.
	opts.Host, opts.Port, opts.HTTPHost, opts.HTTPPort = "127.0.0.1", -1, "127.0.0.1", -1
	opts.StoreDir, opts.PidFile = t.TempDir(), ""
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	defer s.Shutdown()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS not ready")
	}
	if nc, err := nats.Connect(s.ClientURL()); err == nil {
		nc.Close()
		t.Errorf("connected without credentials: anyone could inject tasks")
	}
	nc, err := nats.Connect(s.ClientURL(), nats.UserInfo("daedalus", "s3cret-generated"))
	if err != nil {
		t.Fatalf("connecting with the credentials: %v", err)
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AccountInfo(); err != nil {
		t.Errorf("JetStream unavailable: %v", err)
	}
}

// natsPodEnv returns the environment the StatefulSet's pod podName gives nats-server,
// as the kubelet builds it: secretKeyRef values from secrets (Secret name -> key ->
// value), then $(VAR) references expanded in order.
func natsPodEnv(t *testing.T, files []string, podName string, secrets map[string]map[string]string) map[string]string {
	t.Helper()
	_, _, rel := renderChart(t, files, nil, "daedalus")
	for _, doc := range strings.Split(rel.Manifest, "\n---") {
		if !strings.Contains(doc, "kind: StatefulSet") {
			continue
		}
		var sts struct {
			Spec struct {
				Template corev1.PodTemplateSpec `json:"template"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal([]byte(doc), &sts); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{}
		for _, e := range sts.Spec.Template.Spec.Containers[0].Env {
			switch {
			case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
				env[e.Name] = podName
			case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
				ref := e.ValueFrom.SecretKeyRef
				v, ok := secrets[ref.Name][ref.Key]
				if !ok {
					t.Fatalf("env %s reads Secret %s key %s, which the test does not provide", e.Name, ref.Name, ref.Key)
				}
				env[e.Name] = v
			default:
				env[e.Name] = os.Expand(strings.NewReplacer("$(", "${", ")", "}").Replace(e.Value), func(k string) string { return env[k] })
			}
		}
		return env
	}
	t.Fatal("no StatefulSet in the render")
	return nil
}

// testSecrets stand in for the generated client and route Secrets.
var testSecrets = map[string]map[string]string{
	"daedalus-nats-auth":   {"user": "daedalus", "password": "pw"},
	"daedalus-nats-routes": {"user": "route", "password": "route-pw"},
}

// setEnv sets env for the test (nats-server's config variables read the process environment).
func setEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
}

// advertised returns the CLIENT_ADVERTISE the StatefulSet's pod podName gets.
func advertised(t *testing.T, podName string) string {
	t.Helper()
	return natsPodEnv(t, []string{"values-production.yaml"}, podName, testSecrets)["CLIENT_ADVERTISE"]
}

// TestNATSClusterConfig checks the 3-node config: routes to every node and an
// advertised per-node client URL, which KEDA's scaler uses to find the consumer leader.
func TestNATSClusterConfig(t *testing.T) {
	conf := renderedNATSConf(t, []string{"values-production.yaml"})
	path := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	setEnv(t, natsPodEnv(t, []string{"values-production.yaml"}, "daedalus-nats-1", testSecrets))
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("nats-server rejects the cluster config: %v\n%s", err, conf)
	}
	if len(opts.Routes) != 3 || opts.Cluster.Name != "daedalus-nats" || opts.Cluster.Port != 6222 {
		t.Errorf("cluster: name %q port %d routes %v", opts.Cluster.Name, opts.Cluster.Port, opts.Routes)
	}
	if opts.Cluster.Username != "route" || opts.Cluster.Password != "route-pw" {
		t.Errorf("route authorization: user %q password %q, want the routes Secret's", opts.Cluster.Username, opts.Cluster.Password)
	}
	for _, r := range opts.Routes {
		if p, _ := r.User.Password(); r.User.Username() != "route" || p != "route-pw" {
			t.Errorf("route %s dials without the route credentials", r.Redacted())
		}
	}
	want := "daedalus-nats-1.daedalus-nats-headless.daedalus.svc.cluster.local:4222"
	if opts.ClientAdvertise != want {
		t.Errorf("client_advertise = %q, want %q", opts.ClientAdvertise, want)
	}
}
