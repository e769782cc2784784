// vcsim for the tests: govmomi's vCenter (or ESXi) simulator on 127.0.0.1, sized by flags.
// Prints "URL <url>" on standard output, then serves until SIGINT/SIGTERM.
// With -page N its PropertyCollector answers RetrievePropertiesEx N objects at a time (or maxObjects, if fewer)
// and hands out the rest through ContinueRetrievePropertiesEx, as a real vCenter pages a large inventory; the
// simulator alone returns everything in one answer.
// Built offline in GOPATH mode from Debian's golang-github-vmware-govmomi-dev (see tests/integration/vcsim.py).
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// pageSize > 0 makes the PropertyCollector page; the objects not yet handed out wait under their token.
var (
	pageSize  int
	pagesLock sync.Mutex
	pages     = map[string][]types.ObjectContent{}
	nextToken int
)

// pagingCollector wraps the simulator's PropertyCollector by value: each session gets a zero copy of it.
type pagingCollector struct {
	simulator.PropertyCollector
}

// cut returns the first `limit` objects, keeping the rest under a new token.
func cut(objects []types.ObjectContent, limit int32) types.RetrieveResult {
	size := pageSize
	if limit > 0 && int(limit) < size {
		size = int(limit)
	}
	if len(objects) <= size {
		return types.RetrieveResult{Objects: objects}
	}
	pagesLock.Lock()
	defer pagesLock.Unlock()
	nextToken++
	token := strconv.Itoa(nextToken)
	pages[token] = objects[size:]
	return types.RetrieveResult{Token: token, Objects: objects[:size]}
}

// limits remembers each token's maxObjects, so a continuation pages as the first answer did.
var limits = map[string]int32{}

func (pc *pagingCollector) RetrievePropertiesEx(ctx *simulator.Context, r *types.RetrievePropertiesEx) soap.HasFault {
	body := pc.PropertyCollector.RetrievePropertiesEx(ctx, r).(*methods.RetrievePropertiesExBody)
	if body.Res == nil || body.Res.Returnval == nil {
		return body
	}
	result := cut(body.Res.Returnval.Objects, r.Options.MaxObjects)
	if result.Token != "" {
		pagesLock.Lock()
		limits[result.Token] = r.Options.MaxObjects
		pagesLock.Unlock()
	}
	body.Res.Returnval = &result
	return body
}

func (pc *pagingCollector) ContinueRetrievePropertiesEx(r *types.ContinueRetrievePropertiesEx) soap.HasFault {
	body := &methods.ContinueRetrievePropertiesExBody{}
	pagesLock.Lock()
	objects, found := pages[r.Token]
	limit := limits[r.Token]
	delete(pages, r.Token)
	delete(limits, r.Token)
	pagesLock.Unlock()
	if !found {
		body.Fault_ = simulator.Fault("unknown token "+r.Token, &types.InvalidArgument{InvalidProperty: "token"})
		return body
	}
	result := cut(objects, limit)
	if result.Token != "" {
		pagesLock.Lock()
		limits[result.Token] = limit
		pagesLock.Unlock()
	}
	body.Res = &types.ContinueRetrievePropertiesExResponse{Returnval: result}
	return body
}

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
	flag.IntVar(&pageSize, "page", 0, "objects per RetrievePropertiesEx answer (0: all in one)")
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
	if pageSize > 0 {
		for _, value := range []string{"propertyCollector", "ha-property-collector"} {
			ref := types.ManagedObjectReference{Type: "PropertyCollector", Value: value}
			if pc, ok := simulator.Map.Get(ref).(*simulator.PropertyCollector); ok {
				simulator.Map.Put(&pagingCollector{*pc})
			}
		}
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
