package deploy

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// object is the part of a Kubernetes object the checks read.
type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string            `yaml:"name"`
		Namespace string            `yaml:"namespace"`
		Labels    map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Spec       struct {
		// Service
		Selector map[string]any `yaml:"selector"`
		Ports    []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort any    `yaml:"targetPort"`
		} `yaml:"ports"`
		// Deployment, StatefulSet
		ServiceName string `yaml:"serviceName"`
		Template    struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
	Resources []string `yaml:"resources"` // Kustomization
}

type podSpec struct {
	InitContainers []container `yaml:"initContainers"`
	Containers     []container `yaml:"containers"`
	Volumes        []struct {
		Name                  string `yaml:"name"`
		PersistentVolumeClaim *struct {
			ClaimName string `yaml:"claimName"`
		} `yaml:"persistentVolumeClaim"`
	} `yaml:"volumes"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Args    []string `yaml:"args"`
	EnvFrom []struct {
		ConfigMapRef *struct{ Name string } `yaml:"configMapRef"`
		SecretRef    *struct{ Name string } `yaml:"secretRef"`
	} `yaml:"envFrom"`
	Env []struct {
		Name      string `yaml:"name"`
		ValueFrom *struct {
			SecretKeyRef *struct{ Name, Key string } `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
}

// kinds are the objects the manifests may hold, with their API version.
var kinds = map[string]string{
	"Namespace": "v1", "Secret": "v1", "ConfigMap": "v1", "Service": "v1", "PersistentVolumeClaim": "v1",
	"Deployment": "apps/v1", "StatefulSet": "apps/v1",
	"ServiceAccount": "v1", "Role": "rbac.authorization.k8s.io/v1", "RoleBinding": "rbac.authorization.k8s.io/v1",
}

// functionsNamespace is where the kubernetes target runs functions; only
// the target's Role and its binding live there (rbac.yaml).
const functionsNamespace = "seedbed-functions"

// loadManifests reads every object of the YAML files in dir.
func loadManifests(t *testing.T, dir string) (objs []object, kustomization object) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s (%v)", dir, err)
	}
	var listed []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(f) == "kustomization.yaml" {
			if err := yaml.Unmarshal(b, &kustomization); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			continue
		}
		listed = append(listed, filepath.Base(f))
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(false)
		for i := 0; ; i++ {
			var o object
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s, document %d: %v", f, i, err)
			}
			if o.Kind == "" {
				continue // an empty document
			}
			objs = append(objs, o)
		}
	}
	slices.Sort(listed)
	got := slices.Sorted(slices.Values(kustomization.Resources))
	if !slices.Equal(got, listed) {
		t.Errorf("kustomization.yaml lists %v; the folder has %v", got, listed)
	}
	return objs, kustomization
}

// seedbedSettings reads, from the source of cmd/seedbed, the environment
// variables and the flags the binary knows: the manifests may hand it
// nothing else.
func seedbedSettings(t *testing.T) (env, flags map[string]bool) {
	t.Helper()
	files, err := filepath.Glob("../cmd/seedbed/*.go")
	if err != nil {
		t.Fatal(err)
	}
	env, flags = map[string]bool{}, map[string]bool{}
	envRE := regexp.MustCompile(`"(SEEDBED_[A-Z0-9_]+)"`)
	flagRE := regexp.MustCompile(`\.(?:String|Bool|Int|Duration)(?:Var)?\((?:&[\w.]+, )?"([a-z0-9-]+)"`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range envRE.FindAllStringSubmatch(string(b), -1) {
			env[m[1]] = true
		}
		for _, m := range flagRE.FindAllStringSubmatch(string(b), -1) {
			flags[m[1]] = true
		}
	}
	if !env["SEEDBED_DATABASE_URL"] || !flags["gateway-addr"] {
		t.Fatalf("reading cmd/seedbed found settings %v and flags %v, without SEEDBED_DATABASE_URL or --gateway-addr: the scan is broken", env, flags)
	}
	return env, flags
}

func TestKubernetesManifests(t *testing.T) {
	objs, _ := loadManifests(t, "kubernetes")
	byKind := map[string]map[string]object{}
	for _, o := range objs {
		want, ok := kinds[o.Kind]
		switch {
		case !ok:
			t.Errorf("%s %q: a kind these manifests do not use; add it to kinds if it is meant", o.Kind, o.Metadata.Name)
		case o.APIVersion != want:
			t.Errorf("%s %q: apiVersion %q, want %q", o.Kind, o.Metadata.Name, o.APIVersion, want)
		}
		if o.Metadata.Name == "" {
			t.Errorf("a %s without a name", o.Kind)
		}
		if (o.Kind == "Role" || o.Kind == "RoleBinding") && o.Metadata.Namespace == functionsNamespace {
			// checked by TestRoleCoversTheTarget
		} else if o.Kind != "Namespace" && o.Metadata.Namespace != "seedbed" {
			t.Errorf("%s %q is in namespace %q, want seedbed", o.Kind, o.Metadata.Name, o.Metadata.Namespace)
		}
		if byKind[o.Kind] == nil {
			byKind[o.Kind] = map[string]object{}
		}
		if _, dup := byKind[o.Kind][o.Metadata.Name]; dup {
			t.Errorf("%s %q is defined twice", o.Kind, o.Metadata.Name)
		}
		byKind[o.Kind][o.Metadata.Name] = o
	}
	for _, need := range []string{"Namespace/seedbed", "Secret/seedbed", "ConfigMap/seedbed", "StatefulSet/postgres", "Deployment/redis", "Deployment/seedbed", "Deployment/seedbed-worker", "Namespace/" + functionsNamespace, "ServiceAccount/seedbed", "Service/seedbed-console", "Service/seedbed-gateway", "Service/postgres", "Service/redis"} {
		kind, name, _ := strings.Cut(need, "/")
		if _, ok := byKind[kind][name]; !ok {
			t.Errorf("no %s", need)
		}
	}

	knownEnv, knownFlags := seedbedSettings(t)
	secret := byKind["Secret"]["seedbed"]
	config := byKind["ConfigMap"]["seedbed"]
	workloads := slices.Concat(slices.Collect(maps.Values(byKind["Deployment"])), slices.Collect(maps.Values(byKind["StatefulSet"])))
	for _, w := range workloads {
		name := w.Kind + " " + w.Metadata.Name
		tpl := w.Spec.Template
		for _, v := range tpl.Spec.Volumes {
			if v.PersistentVolumeClaim != nil {
				if _, ok := byKind["PersistentVolumeClaim"][v.PersistentVolumeClaim.ClaimName]; !ok {
					t.Errorf("%s mounts claim %q, which no manifest defines", name, v.PersistentVolumeClaim.ClaimName)
				}
			}
		}
		for _, c := range slices.Concat(tpl.Spec.InitContainers, tpl.Spec.Containers) {
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					ref := e.ValueFrom.SecretKeyRef
					if s, ok := byKind["Secret"][ref.Name]; !ok || s.StringData[ref.Key] == "" && s.Data[ref.Key] == "" {
						t.Errorf("%s: env %s reads key %s of secret %q, which is not there", name, e.Name, ref.Key, ref.Name)
					}
				}
			}
			for _, ef := range c.EnvFrom {
				if ef.ConfigMapRef != nil {
					if _, ok := byKind["ConfigMap"][ef.ConfigMapRef.Name]; !ok {
						t.Errorf("%s: envFrom config map %q is not defined", name, ef.ConfigMapRef.Name)
					}
				}
				if ef.SecretRef != nil {
					if _, ok := byKind["Secret"][ef.SecretRef.Name]; !ok {
						t.Errorf("%s: envFrom secret %q is not defined", name, ef.SecretRef.Name)
					}
				}
			}
			if !strings.HasPrefix(c.Image, "seedbed") {
				continue
			}
			// A Seedbed container: its arguments parse, and every
			// setting it is handed is one the binary reads.
			if len(c.Args) == 0 || (c.Args[0] != "serve" && c.Args[0] != "worker") {
				t.Errorf("%s: seedbed args %v, want serve or worker", name, c.Args)
				continue
			}
			for _, a := range c.Args[1:] {
				if f, ok := strings.CutPrefix(a, "--"); ok && !knownFlags[strings.SplitN(f, "=", 2)[0]] {
					t.Errorf("%s: seedbed has no flag %s", name, a)
				}
			}
			for _, k := range slices.Concat(slices.Collect(maps.Keys(config.Data)), slices.Collect(maps.Keys(secret.StringData))) {
				if k != "POSTGRES_PASSWORD" && !knownEnv[k] { // PostgreSQL's own, in SEEDBED_DATABASE_URL for Seedbed
					t.Errorf("%s is handed %s, which seedbed does not read", name, k)
				}
			}
			for _, k := range []string{"SEEDBED_DATABASE_URL", "SEEDBED_REDIS_URL", "SEEDBED_ARTIFACT_STORE", "SEEDBED_SECRET_KEY"} {
				if config.Data[k] == "" && secret.StringData[k] == "" {
					t.Errorf("%s: %s is not set; workers and serve must share the database, the queue, the bucket and the key", name, k)
				}
			}
		}
	}

	// Every Service selects a workload and names ports it has.
	for _, svc := range byKind["Service"] {
		var matched []object
		for _, w := range workloads {
			ok := len(svc.Spec.Selector) > 0
			for k, v := range svc.Spec.Selector {
				if w.Spec.Template.Metadata.Labels[k] != v {
					ok = false
				}
			}
			if ok {
				matched = append(matched, w)
			}
		}
		if len(matched) != 1 {
			t.Errorf("Service %s selects %d workloads, want 1", svc.Metadata.Name, len(matched))
			continue
		}
		for _, p := range svc.Spec.Ports {
			target, isName := p.TargetPort.(string)
			if !isName {
				continue
			}
			found := false
			for _, c := range matched[0].Spec.Template.Spec.Containers {
				for _, cp := range c.Ports {
					found = found || cp.Name == target
				}
			}
			if !found {
				t.Errorf("Service %s: targetPort %q is no port of %s", svc.Metadata.Name, target, matched[0].Metadata.Name)
			}
		}
	}
	if ss := byKind["StatefulSet"]["postgres"]; ss.Spec.ServiceName != "postgres" {
		t.Errorf("StatefulSet postgres has serviceName %q, want postgres", ss.Spec.ServiceName)
	}
}
