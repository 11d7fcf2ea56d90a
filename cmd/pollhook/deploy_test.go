package main

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/pollhook/pollhook/config"
)

// The container image cannot be built here (no Docker), so these tests
// check what can be checked without it: the Dockerfile's choices, the
// binary its build command makes, and the deployment examples in
// docs/deploy against the configuration they carry.

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
}

// parseDockerfile reads the instructions of the file and groups them by
// build stage; the last stage is the image.
func parseDockerfile(t *testing.T, file string) [][]instruction {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var stages [][]instruction
	var cur strings.Builder
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		cmd, args, _ := strings.Cut(line, " ")
		in := instruction{strings.ToUpper(cmd), strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("%s: %s before the first FROM", file, in.cmd)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if more, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(more + " ")
			continue
		}
		cur.WriteString(trimmed)
		flush()
	}
	flush()
	return stages
}

// find returns the args of the stage's instructions named cmd.
func find(stage []instruction, cmd string) []string {
	var out []string
	for _, in := range stage {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

// goBuild returns the environment assignments and the arguments of the
// go build command in a RUN instruction of the stages.
func goBuild(t *testing.T, stages [][]instruction) (env, args []string) {
	t.Helper()
	for _, stage := range stages {
		for _, run := range find(stage, "RUN") {
			for _, cmd := range strings.Split(run, "&&") {
				words := shellWords(t, cmd)
				i := slices.Index(words, "go")
				if i < 0 || i+1 >= len(words) || words[i+1] != "build" {
					continue
				}
				// Before go: RUN's own flags (--mount=...), then the
				// environment.
				for _, w := range words[:i] {
					if !strings.HasPrefix(w, "-") {
						env = append(env, w)
					}
				}
				return env, words[i+2:]
			}
		}
	}
	t.Fatal("Dockerfile: no RUN ... go build")
	return nil, nil
}

// shellWords splits a command as sh does for what the Dockerfile uses:
// blanks separate words, double quotes group them.
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var w strings.Builder
	inWord, quoted := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case (r == ' ' || r == '\t') && !quoted:
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("unbalanced quote in %q", s)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// flagValue returns the value of the flag name in args, written -name or
// --name, with its value after "=" or as the next argument.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
		if a == name && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

// TestDockerfile pins the image's properties: static, stripped, non-root,
// distroless, a /data volume its user owns, a health check by pollhook
// itself.
func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t, "../../Dockerfile")
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a build stage and the image", len(stages))
	}
	image := stages[len(stages)-1]
	env, args := goBuild(t, stages)
	ldflags, _ := flagValue(args, "ldflags")
	out, _ := flagValue(args, "o")
	var user, volume, healthcheck, entrypoint string
	if u := find(image, "USER"); len(u) > 0 {
		user = u[len(u)-1]
	}
	if v := find(image, "VOLUME"); len(v) > 0 {
		volume = v[0]
	}
	if h := find(image, "HEALTHCHECK"); len(h) > 0 {
		healthcheck = h[0]
	}
	if e := find(image, "ENTRYPOINT"); len(e) > 0 {
		entrypoint = e[0]
	}
	copies := strings.Join(find(image, "COPY"), "\n")
	checks := []struct {
		what string
		ok   bool
	}{
		{"the image is distroless static, nonroot tag, or scratch: FROM " + image[0].args,
			image[0].args == "gcr.io/distroless/static-debian12:nonroot" || image[0].args == "scratch"},
		{"go build runs with CGO_ENABLED=0 (a static binary): env " + strings.Join(env, " "), slices.Contains(env, "CGO_ENABLED=0")},
		{"go build -trimpath (no build paths in the binary)", slices.Contains(args, "-trimpath")},
		{`-ldflags "-s -w" (stripped): ` + ldflags, slices.Contains(strings.Fields(ldflags), "-s") && slices.Contains(strings.Fields(ldflags), "-w")},
		{"the version is stamped (-X main.version=...): " + ldflags, strings.Contains(ldflags, "-X main.version=")},
		{"the built binary is copied into the image: COPY ... " + out, strings.Contains(copies, "--from=build "+out+" /usr/local/bin/pollhook")},
		{"USER is not root: " + user, user == "65532:65532" || user == "nonroot:nonroot"},
		{"VOLUME [\"/data\"]: " + volume, volume == `["/data"]`},
		{"/data is created owned by the user: " + copies, strings.Contains(copies, "--chown="+user+" ") && strings.HasSuffix(strings.TrimSpace(copies), " /data")},
		{"HEALTHCHECK runs pollhook health on /readyz: " + healthcheck,
			strings.Contains(healthcheck, `CMD ["/usr/local/bin/pollhook", "health", "http://127.0.0.1:8080/readyz"]`)},
		{"ENTRYPOINT is pollhook: " + entrypoint, entrypoint == `["/usr/local/bin/pollhook"]`},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("Dockerfile: %s", c.what)
		}
	}
}

// TestStaticBuild builds pollhook with the Dockerfile's own go build
// command and checks that the binary is static and stripped, and runs.
func TestStaticBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	const version = "v9.8.7-test"
	env, args := goBuild(t, parseDockerfile(t, "../../Dockerfile"))
	bin := filepath.Join(t.TempDir(), "pollhook")
	// The build arguments, as docker build sets them for this machine.
	buildArgs := strings.NewReplacer("${VERSION}", version, "${TARGETOS}", runtime.GOOS, "${TARGETARCH}", runtime.GOARCH)
	for i := range env {
		env[i] = buildArgs.Replace(env[i])
	}
	for i, a := range args {
		args[i] = buildArgs.Replace(a)
		if i > 0 && args[i-1] == "-o" {
			args[i] = bin
		}
	}
	if strings.Contains(strings.Join(append(env, args...), " "), "$") {
		t.Fatalf("a build argument is not set by the test: %q %q", env, args)
	}
	cmd := exec.Command("go", append([]string{"build"}, args...)...)
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", strings.Join(args, " "), err, out)
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has an ELF interpreter: it is dynamically linked")
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v (%v)", libs, err)
	}
	if _, err := f.Symbols(); !errors.Is(err, elf.ErrNoSymbols) {
		t.Errorf("the binary has a symbol table (Symbols: %v): not stripped", err)
	}
	if fi, err := os.Stat(bin); err == nil {
		t.Logf("static binary: %.1f MB", float64(fi.Size())/1e6)
	}

	out, err := exec.Command(bin, "version").CombinedOutput()
	if want := "pollhook " + version + "\n"; err != nil || string(out) != want {
		t.Errorf("pollhook version = %q (%v), want %q", out, err, want)
	}
}

// k8sObject is the part of a Kubernetes object these tests read.
type k8sObject struct {
	Kind       string
	Metadata   struct{ Name string }
	Data       map[string]string
	StringData map[string]string `yaml:"stringData"`
	Spec       struct {
		Replicas *int
		Strategy struct{ Type string }
		Template struct {
			Spec struct {
				SecurityContext struct {
					FSGroup *int64 `yaml:"fsGroup"`
				} `yaml:"securityContext"`
				Containers []k8sContainer
				Volumes    []k8sVolume
			}
		}
	}
}

type k8sVolume struct {
	Name      string
	ConfigMap *struct{ Name string } `yaml:"configMap"`
	Secret    *struct {
		SecretName string `yaml:"secretName"`
	}
	PVC *struct {
		ClaimName string `yaml:"claimName"`
	} `yaml:"persistentVolumeClaim"`
	EmptyDir any `yaml:"emptyDir"`
}

type k8sContainer struct {
	Name  string
	Args  []string
	Ports []struct {
		Name          string
		ContainerPort int `yaml:"containerPort"`
	}
	Env []struct {
		Name, Value string
	}
	Resources struct {
		Requests, Limits map[string]string
	}
	Liveness  k8sProbe `yaml:"livenessProbe"`
	Readiness k8sProbe `yaml:"readinessProbe"`
	Security  struct {
		RunAsNonRoot             *bool  `yaml:"runAsNonRoot"`
		RunAsUser                *int64 `yaml:"runAsUser"`
		ReadOnlyRootFilesystem   *bool  `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool  `yaml:"allowPrivilegeEscalation"`
	} `yaml:"securityContext"`
	Mounts []struct {
		Name      string
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string
		Port string
	} `yaml:"httpGet"`
}

// TestDeployKubernetes loads the configuration of the Kubernetes example
// as the pod would see it (the ConfigMap's file, the Secret's keys as
// files at their mount) and checks that the pod matches it: probes on the
// listen port, the store on the volume, secrets from the Secret, a memory
// limit with GOMEMLIMIT below it, non-root.
func TestDeployKubernetes(t *testing.T) {
	objs := map[string]k8sObject{}
	data, err := os.ReadFile("../../docs/deploy/kubernetes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var o k8sObject
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		objs[o.Kind+"/"+o.Metadata.Name] = o
	}
	deploy, ok := objs["Deployment/orders-api"]
	if !ok {
		t.Fatalf("no Deployment orders-api in %v", slices.Sorted(maps.Keys(objs)))
	}
	pod := deploy.Spec.Template.Spec
	i := slices.IndexFunc(pod.Containers, func(c k8sContainer) bool { return c.Name == "pollhook" })
	if i < 0 || len(pod.Containers) != 2 {
		t.Fatalf("want two containers, a legacy API and pollhook; got %d", len(pod.Containers))
	}
	c := pod.Containers[i]

	// Mount what the pod mounts: the ConfigMap's keys and the Secret's.
	root := t.TempDir()
	mounted := func(p string) string { return filepath.Join(root, filepath.FromSlash(p)) }
	var storeVolume string
	for _, m := range c.Mounts {
		vi := slices.IndexFunc(pod.Volumes, func(v k8sVolume) bool { return v.Name == m.Name })
		if vi < 0 {
			t.Fatalf("mount %s: no volume %q", m.MountPath, m.Name)
		}
		v := pod.Volumes[vi]
		var files map[string]string
		switch {
		case v.ConfigMap != nil:
			files = objs["ConfigMap/"+v.ConfigMap.Name].Data
		case v.Secret != nil:
			files = objs["Secret/"+v.Secret.SecretName].StringData
		case v.PVC != nil:
			if _, ok := objs["PersistentVolumeClaim/"+v.PVC.ClaimName]; !ok {
				t.Errorf("volume %s: no PersistentVolumeClaim %q", v.Name, v.PVC.ClaimName)
			}
			storeVolume = m.MountPath
		case v.EmptyDir != nil:
			storeVolume = m.MountPath
		}
		if err := os.MkdirAll(mounted(m.MountPath), 0o755); err != nil {
			t.Fatal(err)
		}
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(mounted(m.MountPath), name), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	cfgPath, ok := flagValue(c.Args, "config")
	if !ok || !slices.Contains(c.Args, "run") {
		t.Fatalf("pollhook args %q: want run --config FILE", c.Args)
	}
	cfg := loadMounted(t, root, cfgPath, func(name string) (string, bool) {
		for _, e := range c.Env {
			if e.Name == name {
				return e.Value, true
			}
		}
		return "", false
	})

	port := listenPort(t, cfg.Server.Listen)
	namedPort := func(p *k8sProbe) int {
		if p.HTTPGet == nil {
			return -1
		}
		for _, cp := range c.Ports {
			if cp.Name == p.HTTPGet.Port || strconv.Itoa(cp.ContainerPort) == p.HTTPGet.Port {
				return cp.ContainerPort
			}
		}
		return -1
	}
	probePath := func(p *k8sProbe) string {
		if p.HTTPGet == nil {
			return ""
		}
		return p.HTTPGet.Path
	}
	limit, limitErr := parseBytes(c.Resources.Limits["memory"])
	memLimit, memErr := parseBytes(envValue(c, "GOMEMLIMIT"))
	checks := []struct {
		what string
		ok   bool
	}{
		{"one replica (each pollhook pushes every change)", deploy.Spec.Replicas != nil && *deploy.Spec.Replicas == 1},
		{"strategy Recreate (one process per store)", deploy.Spec.Strategy.Type == "Recreate"},
		{fmt.Sprintf("liveness probe GET /healthz on port %d: %s on %d", port, probePath(&c.Liveness), namedPort(&c.Liveness)),
			probePath(&c.Liveness) == "/healthz" && namedPort(&c.Liveness) == port},
		{fmt.Sprintf("readiness probe GET /readyz on port %d: %s on %d", port, probePath(&c.Readiness), namedPort(&c.Readiness)),
			probePath(&c.Readiness) == "/readyz" && namedPort(&c.Readiness) == port},
		{fmt.Sprintf("store.path %s on a PVC or emptyDir mount (%q)", cfg.Store.Path, storeVolume), storeVolume != "" && path.Clean(cfg.Store.Path) == storeVolume},
		{"resources: requests and a memory limit", c.Resources.Requests["memory"] != "" && c.Resources.Requests["cpu"] != "" && limitErr == nil},
		{fmt.Sprintf("GOMEMLIMIT %d below limits.memory %d (%v)", memLimit, limit, memErr), memErr == nil && memLimit < limit && memLimit >= limit/2},
		{"runAsNonRoot, runAsUser 65532 and fsGroup 65532 (the volume is writable)", c.Security.RunAsNonRoot != nil && *c.Security.RunAsNonRoot &&
			c.Security.RunAsUser != nil && *c.Security.RunAsUser == 65532 && pod.SecurityContext.FSGroup != nil && *pod.SecurityContext.FSGroup == 65532},
		{"read-only root filesystem, no privilege escalation", c.Security.ReadOnlyRootFilesystem != nil && *c.Security.ReadOnlyRootFilesystem &&
			c.Security.AllowPrivilegeEscalation != nil && !*c.Security.AllowPrivilegeEscalation},
		{"the admin token is set (from the Secret)", cfg.Server.AdminToken != "" && cfg.Server.AdminTokenFile != ""},
	}
	for _, ck := range checks {
		if !ck.ok {
			t.Errorf("kubernetes.yaml: %s", ck.what)
		}
	}
}

func envValue(c k8sContainer, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// loadMounted loads the configuration at cfgPath inside the container
// from its copy under root, with the absolute paths it names (its *_file
// secrets) read under root too, as config.Load does in the container.
func loadMounted(t *testing.T, root, cfgPath string, lookupEnv func(string) (string, bool)) *config.Config {
	t.Helper()
	local := filepath.Join(root, filepath.FromSlash(cfgPath))
	data, err := os.ReadFile(local)
	if err != nil {
		t.Fatalf("the container's --config %s is not mounted: %v", cfgPath, err)
	}
	// Every absolute path in the file is a mount; root them in the test's copy.
	var rooted yaml.Node
	if err := yaml.Unmarshal(data, &rooted); err != nil {
		t.Fatal(err)
	}
	walkScalars(&rooted, func(n *yaml.Node) {
		if strings.HasPrefix(n.Value, "/") && !strings.Contains(n.Value, " ") {
			n.Value = filepath.Join(root, filepath.FromSlash(n.Value))
		}
	})
	out, err := yaml.Marshal(&rooted)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(local, out, lookupEnv)
	if err != nil {
		t.Fatalf("%s is not a valid configuration in the container:\n%v", cfgPath, err)
	}
	if rel, err := filepath.Rel(root, cfg.Store.Path); err == nil {
		cfg.Store.Path = "/" + filepath.ToSlash(rel)
	}
	return cfg
}

func walkScalars(n *yaml.Node, f func(*yaml.Node)) {
	if n.Kind == yaml.ScalarNode {
		f(n)
	}
	for _, c := range n.Content {
		walkScalars(c, f)
	}
}

func listenPort(t *testing.T, listen string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(listen)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// parseBytes reads a memory size as Kubernetes (128Mi), Go's GOMEMLIMIT
// (100MiB) and Docker (128m, binary) write it.
func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
		{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30},
		{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30},
	}
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			return v * u.mult, err
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

// compose is the part of a Compose file these tests read.
type compose struct {
	Services map[string]struct {
		Command []string
		Configs []struct{ Source, Target string }
		Secrets []string
		Env     map[string]string `yaml:"environment"`
		Mem     string            `yaml:"mem_limit"`
		Volumes []string
		Ports   []string
		Read    bool `yaml:"read_only"`
	}
	Configs map[string]struct{ File string }
	Secrets map[string]struct{ File string }
	Volumes map[string]any
}

// TestDeployCompose loads the configuration of the Compose example as the
// container would see it (its config file, the secrets as stub files in
// /run/secrets) and checks the service against it: the store on the named
// volume, the published port and the image's health check on the listen
// port, GOMEMLIMIT below mem_limit.
func TestDeployCompose(t *testing.T) {
	data, err := os.ReadFile("../../docs/deploy/docker-compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cf compose
	if err := yaml.Unmarshal(data, &cf); err != nil {
		t.Fatal(err)
	}
	svc, ok := cf.Services["pollhook"]
	if !ok {
		t.Fatal("no service pollhook")
	}
	if _, ok := cf.Services["legacy-api"]; !ok || len(cf.Services) != 2 {
		t.Errorf("want two services, legacy-api and pollhook; got %v", slices.Sorted(maps.Keys(cf.Services)))
	}
	root := t.TempDir()
	mounted := func(p string) string { return filepath.Join(root, filepath.FromSlash(p)) }
	for _, c := range svc.Configs {
		src, ok := cf.Configs[c.Source]
		if !ok {
			t.Fatalf("config %q is not defined", c.Source)
		}
		content, err := os.ReadFile(filepath.Join("../../docs/deploy", src.File))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(mounted(c.Target)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(mounted(c.Target), content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The secret files are the user's; a stub valid for any of them stands in.
	if err := os.MkdirAll(mounted("/run/secrets"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range svc.Secrets {
		if _, ok := cf.Secrets[s]; !ok {
			t.Fatalf("secret %q is not defined", s)
		}
		if err := os.WriteFile(mounted("/run/secrets/"+s), []byte("whsec_c3R1Yi1zaWduaW5nLWtleQ==\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfgPath, ok := flagValue(svc.Command, "config")
	if !ok || !slices.Contains(svc.Command, "run") {
		t.Fatalf("pollhook command %q: want run --config FILE", svc.Command)
	}
	cfg := loadMounted(t, root, cfgPath, func(name string) (string, bool) {
		v, ok := svc.Env[name]
		return v, ok
	})

	port := strconv.Itoa(listenPort(t, cfg.Server.Listen))
	var healthcheck string
	stages := parseDockerfile(t, "../../Dockerfile")
	if h := find(stages[len(stages)-1], "HEALTHCHECK"); len(h) > 0 {
		healthcheck = h[0]
	}
	var dataVolume string
	for _, v := range svc.Volumes {
		name, target, _ := strings.Cut(v, ":")
		if _, named := cf.Volumes[name]; named {
			dataVolume = target
		}
	}
	limit, limitErr := parseBytes(svc.Mem)
	memLimit, memErr := parseBytes(svc.Env["GOMEMLIMIT"])
	checks := []struct {
		what string
		ok   bool
	}{
		{fmt.Sprintf("store.path %s on a named volume (%q)", cfg.Store.Path, dataVolume), dataVolume != "" && path.Clean(cfg.Store.Path) == dataVolume},
		{fmt.Sprintf("the published port is the listen port %s: %v", port, svc.Ports), len(svc.Ports) == 1 && strings.HasSuffix(svc.Ports[0], ":"+port)},
		{"the image's HEALTHCHECK asks the listen port " + port + ": " + healthcheck, strings.Contains(healthcheck, "127.0.0.1:"+port+"/")},
		{fmt.Sprintf("GOMEMLIMIT %d below mem_limit %d (%v, %v)", memLimit, limit, memErr, limitErr), memErr == nil && limitErr == nil && memLimit < limit && memLimit >= limit/2},
		{"read-only root filesystem", svc.Read},
		{"the admin token is set (from a secret)", cfg.Server.AdminToken != "" && cfg.Server.AdminTokenFile != ""},
	}
	for _, ck := range checks {
		if !ck.ok {
			t.Errorf("docker-compose.yaml: %s", ck.what)
		}
	}
}
