// vcsim for the tests: govmomi's vCenter (or ESXi) simulator on 127.0.0.1, sized by flags.
// Prints "URL <url>" on standard output, then serves until SIGINT/SIGTERM.
// Built offline in GOPATH mode from Debian's golang-github-vmware-govmomi-dev (see tests/integration/vcsim.py).
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/vmware/govmomi/simulator"
)

func main() {
	esx := flag.Bool("esx", false, "a standalone ESXi host instead of vCenter")
	dc := flag.Int("dc", 1, "datacenters")
	clusters := flag.Int("cluster", 1, "clusters per datacenter")
	clusterHosts := flag.Int("cluster-host", 3, "ESXi hosts per cluster")
	hosts := flag.Int("host", 1, "standalone ESXi hosts per datacenter")
	vms := flag.Int("vm", 2, "VMs per host (and per cluster)")
	datastores := flag.Int("ds", 1, "datastores")
	useTLS := flag.Bool("tls", false, "serve https (with -tls-cert/-tls-key, else Go's built-in test certificate)")
	certFile := flag.String("tls-cert", "", "the certificate (PEM) to serve with -tls")
	keyFile := flag.String("tls-key", "", "its private key (PEM)")
	user := flag.String("user", "user", "the only user name that logs in")
	pass := flag.String("pass", "pass", "its password")
	listen := flag.String("listen", "127.0.0.1:0", "address:port to listen on (loopback only)")
	flag.Parse()

	model := simulator.VPX()
	if *esx {
		model = simulator.ESX()
	} else {
		model.Datacenter, model.Cluster, model.ClusterHost, model.Host = *dc, *clusters, *clusterHosts, *hosts
	}
	model.Machine, model.Datastore = *vms, *datastores
	defer model.Remove()
	if err := model.Create(); err != nil {
		fmt.Fprintln(os.Stderr, "create:", err)
		os.Exit(1)
	}
	model.Service.Listen = &url.URL{Host: *listen, User: url.UserPassword(*user, *pass)}
	if *useTLS {
		model.Service.TLS = new(tls.Config)
		if *certFile != "" {
			pair, err := tls.LoadX509KeyPair(*certFile, *keyFile)
			if err != nil {
				fmt.Fprintln(os.Stderr, "certificate:", err)
				os.Exit(1)
			}
			model.Service.TLS.Certificates = []tls.Certificate{pair}
		}
	}
	server := model.Service.NewServer()
	defer server.Close()
	u := *server.URL
	u.User = nil
	fmt.Println("URL", u.String())
	os.Stdout.Sync()

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
}
