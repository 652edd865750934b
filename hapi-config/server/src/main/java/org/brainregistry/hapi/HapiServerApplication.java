package org.brainregistry.hapi;

import ca.uhn.fhir.rest.server.RestfulServer;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.autoconfigure.ImportAutoConfiguration;
import org.springframework.boot.autoconfigure.context.ConfigurationPropertiesAutoConfiguration;
import org.springframework.boot.autoconfigure.context.LifecycleAutoConfiguration;
import org.springframework.boot.autoconfigure.context.PropertyPlaceholderAutoConfiguration;
import org.springframework.boot.autoconfigure.jdbc.DataSourceAutoConfiguration;
import org.springframework.boot.autoconfigure.web.embedded.EmbeddedWebServerFactoryCustomizerAutoConfiguration;
import org.springframework.boot.autoconfigure.web.servlet.ServletWebServerFactoryAutoConfiguration;
import org.springframework.boot.web.servlet.ServletRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Import;

/**
 * Starts a HAPI FHIR JPA server (R4) on Postgres with rest-hook subscriptions.
 *
 * <p>Only the Spring Boot auto-configurations that this server needs are imported: the embedded
 * Tomcat, the Hikari data source and property handling. HAPI's dependencies put many more on the
 * class path (Spring MVC, SpringDoc, Flyway, Quartz, Thymeleaf, Elasticsearch), and scanning for
 * all of them made start-up slower while HAPI builds its persistence layer and schedulers itself.
 */
@SpringBootConfiguration
@ImportAutoConfiguration({
  PropertyPlaceholderAutoConfiguration.class,
  ConfigurationPropertiesAutoConfiguration.class,
  LifecycleAutoConfiguration.class,
  ServletWebServerFactoryAutoConfiguration.class,
  EmbeddedWebServerFactoryCustomizerAutoConfiguration.class,
  DataSourceAutoConfiguration.class
})
@Import({FhirServerConfig.class, PersistenceConfig.class})
public class HapiServerApplication {

  public static void main(String[] args) {
    SpringApplication.run(HapiServerApplication.class, args);
  }

  /** Serves the FHIR API under /fhir, initialised at start-up so the first request is not slow. */
  @Bean
  public ServletRegistrationBean<RestfulServer> fhirServletRegistration(RestfulServer restfulServer) {
    ServletRegistrationBean<RestfulServer> registration =
        new ServletRegistrationBean<>(restfulServer, "/fhir/*");
    registration.setName("fhir");
    registration.setLoadOnStartup(1);
    return registration;
  }
}
