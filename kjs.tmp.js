const { Kafka, logLevel, ConfigResourceTypes, AclResourceTypes, AclOperationTypes, AclPermissionTypes, ResourcePatternTypes } = require('kafkajs');
const fs=require('fs');
(async()=>{
const k=new Kafka({brokers:['127.0.0.1:29194'], clientId:'t', logLevel: logLevel.NOTHING, ssl:{ca:fs.readFileSync('/work/wt/issue-12/.local/secured/tls/ca.pem','utf8')}, sasl:{mechanism:'scram-sha-512',username:'admin',password:fs.readFileSync('/work/wt/issue-12/.local/secured/secrets/kafka-admin.password','utf8').trim()}});
const a=k.admin(); await a.connect();
console.log(await a.describeCluster());
const c=await a.describeConfigs({resources:[{type:ConfigResourceTypes.TOPIC,name:'iot.telemetry.raw.v1'}],includeSynonyms:false});
console.log(c.resources[0].configEntries.filter(e=>e.configSource===1));
await a.createAcls({acl:[{resourceType:AclResourceTypes.TOPIC,resourceName:'iot.telemetry.raw.v1',resourcePatternType:ResourcePatternTypes.LITERAL,principal:'User:producer',host:'*',operation:AclOperationTypes.WRITE,permissionType:AclPermissionTypes.ALLOW}]});
console.log(JSON.stringify(await a.describeAcls({resourceType:AclResourceTypes.ANY,resourcePatternType:ResourcePatternTypes.ANY,operation:AclOperationTypes.ANY,permissionType:AclPermissionTypes.ANY})));
console.log(await a.listPartitionReassignments({topics:[{topic:'iot.telemetry.raw.v1',partitions:[0]}]}).catch(e=>e.message));
await a.disconnect();
})().catch(e=>{console.error('ERR',e.message, e.type);process.exit(1)});
