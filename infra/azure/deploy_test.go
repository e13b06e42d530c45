// Package azure holds the deployment of the whole system to Azure: azuredeploy.json (generated
// by functions/cmd/topology and tested there) and deploy.sh (make deploy). Nothing reaches
// Azure from a test: deploy.sh runs here against stand-ins for az and func that record what they
// are asked.
package azure

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tree is a copy of deploy.sh in a repository of its own, with assembled apps and fake tools.
type tree struct {
	root, bin, calls string
}

func newTree(t *testing.T, tools ...string) tree {
	t.Helper()
	tr := tree{root: t.TempDir(), bin: t.TempDir()}
	tr.calls = filepath.Join(tr.bin, "calls.log")
	script, err := os.ReadFile("deploy.sh")
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(tr.root, "infra", "azure"), 0o755))
	must(os.WriteFile(filepath.Join(tr.root, "infra", "azure", "deploy.sh"), script, 0o755))
	for _, app := range []string{"subscriptions", "cloudapi", "product", "journal"} {
		must(os.MkdirAll(filepath.Join(tr.root, ".build", app), 0o755))
		must(os.WriteFile(filepath.Join(tr.root, ".build", app, "handler"), []byte("#!/bin/true\n"), 0o755))
	}
	for _, tool := range tools {
		fake := "#!/bin/sh\necho \"" + tool + " $(basename \"$PWD\") $*\" >> " + tr.calls + "\n"
		must(os.WriteFile(filepath.Join(tr.bin, tool), []byte(fake), 0o755))
	}
	return tr
}

func (tr tree) run(t *testing.T, env ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("bash", filepath.Join(tr.root, "infra", "azure", "deploy.sh"))
	// Only the fakes and the shell's basics: a real az or func on this machine is never run.
	cmd.Env = append([]string{"PATH=" + tr.bin + ":/usr/bin:/bin", "APPS=subscriptions cloudapi product journal"}, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestDeployRunsTheTemplateThenPublishesEachApp(t *testing.T) {
	tr := newTree(t, "az", "func")
	out, err := tr.run(t, "RESOURCE_GROUP=rg-test", "NAME_PREFIX=mtrl", "LOCATION=westeurope")
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	calls, _ := os.ReadFile(tr.calls)
	want := []string{
		"az " + filepath.Base(tr.root) + " deployment group create --resource-group rg-test --name meterline --template-file infra/azure/azuredeploy.json --parameters namePrefix=mtrl planSku=B1 location=westeurope",
		"func subscriptions azure functionapp publish mtrl-subscriptions",
		"func cloudapi azure functionapp publish mtrl-cloudapi",
		"func product azure functionapp publish mtrl-product",
		"func journal azure functionapp publish mtrl-journal",
	}
	if got := strings.Split(strings.TrimSpace(string(calls)), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDeploySaysWhatIsMissing(t *testing.T) {
	for _, c := range []struct {
		name  string
		tools []string
		env   []string
		want  string
	}{
		{"no az", []string{"func"}, []string{"RESOURCE_GROUP=rg", "NAME_PREFIX=mtrl"}, "the Azure CLI (az) is not installed"},
		{"no func", []string{"az"}, []string{"RESOURCE_GROUP=rg", "NAME_PREFIX=mtrl"}, "Azure Functions Core Tools (func) are not installed"},
		{"no group", []string{"az", "func"}, []string{"NAME_PREFIX=mtrl"}, "set RESOURCE_GROUP"},
		{"bad prefix", []string{"az", "func"}, []string{"RESOURCE_GROUP=rg", "NAME_PREFIX=Meter-Line"}, "set NAME_PREFIX"},
		{"no apps", []string{"az", "func"}, []string{"RESOURCE_GROUP=rg", "NAME_PREFIX=mtrl", "APPS="}, "set APPS"},
	} {
		tr := newTree(t, c.tools...)
		out, err := tr.run(t, c.env...)
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("%s: %v %q; want a failure saying %q", c.name, err, out, c.want)
		}
		if calls, _ := os.ReadFile(tr.calls); len(calls) != 0 {
			t.Errorf("%s: tools were called: %s", c.name, calls)
		}
	}
}
